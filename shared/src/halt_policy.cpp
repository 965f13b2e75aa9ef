// See halt_policy.hpp.
#include "zpipe/halt_policy.hpp"

#include <charconv>
#include <limits>
#include <optional>

#include "zpipe/exit_codes.hpp"

namespace zpipe {
namespace {

[[noreturn]] void bad(std::string_view text, std::string_view why) {
  throw usage_error("--halt '" + std::string(text) + "': " + std::string(why) +
                    "; give never, soon,fail=N, now,fail=N, soon,fail=P%, soon,success=N or now,success=P% "
                    "(N at least 1, P above 0 and at most 100)");
}

// "P" or "P.D" or "P.DD" as hundredths; nullopt when it is not such a number.
std::optional<std::uint64_t> hundredths(std::string_view digits) {
  const auto dot = digits.find('.');
  const std::string_view whole = digits.substr(0, dot);
  std::string fraction(dot == std::string_view::npos ? std::string_view{} : digits.substr(dot + 1));
  if (whole.empty() || fraction.size() > 2 || (dot != std::string_view::npos && fraction.empty())) return std::nullopt;
  fraction.resize(2, '0');
  std::uint64_t units = 0, parts = 0;
  const auto [end, error] = std::from_chars(whole.data(), whole.data() + whole.size(), units);
  if (error != std::errc{} || end != whole.data() + whole.size() || units > 100) return std::nullopt;
  const auto [fraction_end, fraction_error] = std::from_chars(fraction.data(), fraction.data() + 2, parts);
  if (fraction_error != std::errc{} || fraction_end != fraction.data() + 2) return std::nullopt;
  return units * 100 + parts;
}

}  // namespace

HaltPolicy parse_halt_policy(std::string_view text) {
  HaltPolicy halt;
  if (text == "never" || text == "0") return halt;
  if (text == "1" || text == "2") {
    halt.when = text == "1" ? HaltPolicy::When::soon : HaltPolicy::When::now;
    halt.count = 1;
    return halt;
  }
  const auto comma = text.find(',');
  if (comma == std::string_view::npos) bad(text, "no ',' between when and why");
  const std::string_view when = text.substr(0, comma);
  const std::string_view rest = text.substr(comma + 1);
  if (when == "soon") halt.when = HaltPolicy::When::soon;
  else if (when == "now") halt.when = HaltPolicy::When::now;
  else bad(text, "'" + std::string(when) + "' is not soon or now");
  const auto equals = rest.find('=');
  if (equals == std::string_view::npos) bad(text, "no '=' after " + std::string(rest));
  const std::string_view why = rest.substr(0, equals);
  std::string_view value = rest.substr(equals + 1);
  if (why == "fail") halt.on = HaltPolicy::On::fail;
  else if (why == "success") halt.on = HaltPolicy::On::success;
  else if (why == "done") bad(text, "done= is not supported here");
  else bad(text, "'" + std::string(why) + "' is not fail or success");
  if (value.empty()) bad(text, "no value after '='");
  if (value.back() == '%') {
    value.remove_suffix(1);
    const auto share = hundredths(value);
    if (!share || *share == 0 || *share > 10000) bad(text, "'" + std::string(value) + "%' is not a percentage above 0 and at most 100");
    halt.basis_points = static_cast<std::uint32_t>(*share);
    return halt;
  }
  std::uint64_t count = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), count);
  if (error != std::errc{} || end != value.data() + value.size() || count == 0)
    bad(text, "'" + std::string(value) + "' is not a count of at least 1 or a percentage");
  halt.count = count;
  return halt;
}

std::string describe(const HaltPolicy& halt) {
  if (!halt.enabled()) return "never";
  std::string text = halt.when == HaltPolicy::When::now ? "now," : "soon,";
  text += halt.on == HaltPolicy::On::fail ? "fail=" : "success=";
  if (halt.count > 0) return text + std::to_string(halt.count);
  text += std::to_string(halt.basis_points / 100);
  if (const auto parts = halt.basis_points % 100; parts != 0)
    text += (parts < 10 ? ".0" : ".") + std::to_string(parts % 10 == 0 ? parts / 10 : parts);
  return text + "%";
}

bool halt_reached(const HaltPolicy& halt, std::uint64_t ok, std::uint64_t failed) {
  if (!halt.enabled()) return false;
  const std::uint64_t counted = halt.on == HaltPolicy::On::fail ? failed : ok;
  if (halt.count > 0) return counted >= halt.count;
  const std::uint64_t completed = ok + failed;
  if (completed == 0) return false;
  // counted / completed >= basis_points / 10000, in integers while they fit.
  constexpr std::uint64_t fits = std::numeric_limits<std::uint64_t>::max() / 10000;
  if (completed <= fits) return counted * 10000 >= halt.basis_points * completed;
  return static_cast<long double>(counted) * 10000 >= static_cast<long double>(halt.basis_points) * completed;
}

}  // namespace zpipe
