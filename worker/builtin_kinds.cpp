// The task kinds every worker has.
#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "zpipe/log.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/worker.hpp"

namespace zpipe {
namespace {

// True for text that spells a whole number, however large: one too large
// for 64 bits is out of range, not "not an integer".
bool spells_whole_number(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  const auto last = text.find_last_not_of(" \t\r");
  if (first == std::string_view::npos) return false;
  text = text.substr(first, last - first + 1);
  if (text.front() == '+' || text.front() == '-') text.remove_prefix(1);
  return !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
}

std::int64_t integer_payload(const Value& payload, std::string_view kind) {
  if (const auto number = as_integer(payload)) return *number;
  if (spells_whole_number(as_text(payload)))
    throw std::out_of_range(std::string(kind) + " payload " + printable(as_text(payload), 64) +
                            " is out of range: it must be from -9223372036854775808 to 9223372036854775807");
  throw std::invalid_argument(std::string(kind) + " needs an integer payload, got '" + as_text(payload) + "'");
}

std::int64_t bounded_payload(const Value& payload, std::string_view kind, std::int64_t most, std::string_view unit) {
  const std::int64_t number = integer_payload(payload, kind);
  if (number < 0 || number > most)
    throw std::invalid_argument(std::string(kind) + " takes 0.." + std::to_string(most) + " " + std::string(unit) +
                                ", got " + std::to_string(number));
  return number;
}

// square's shortcut: an overflow goes to square(), which words the error.
bool square_integer(std::int64_t n, std::int64_t& result) { return !__builtin_mul_overflow(n, n, &result); }

Value square(const Value& payload) {
  const std::int64_t n = integer_payload(payload, "square");
  std::int64_t result = 0;
  if (__builtin_mul_overflow(n, n, &result))
    throw std::overflow_error("square of " + std::to_string(n) + " overflows a 64-bit integer");
  return result;
}

// Sleeps in slices so a stop signal, or the job's cancellation, is honoured
// within a tenth of a second.
Value sleep_ms(const Value& payload) {
  const auto total = std::chrono::milliseconds(bounded_payload(payload, "sleep", 86'400'000, "ms"));
  const auto until = std::chrono::steady_clock::now() + total;
  while (!task_cancelled()) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(100)));
  }
  return static_cast<std::int64_t>(total.count());
}

Value spin_us(const Value& payload) {
  const auto total = std::chrono::microseconds(bounded_payload(payload, "spin", 60'000'000, "µs"));
  const auto until = std::chrono::steady_clock::now() + total;
  while (std::chrono::steady_clock::now() < until) {
  }
  return static_cast<std::int64_t>(total.count());
}

// Sieve of Eratosthenes; the bound keeps one task's memory under 64 MB.
Value count_primes(const Value& payload) {
  const auto limit = static_cast<std::size_t>(bounded_payload(payload, "primes", 500'000'000, "(the upper bound)"));
  if (limit < 2) return std::int64_t{0};
  std::vector<bool> composite(limit + 1, false);
  std::int64_t count = 0;
  for (std::size_t i = 2; i <= limit; ++i) {
    if (composite[i]) continue;
    ++count;
    for (std::size_t multiple = i * i; multiple <= limit; multiple += i) composite[multiple] = true;
  }
  return count;
}

Value fail(const Value& payload) {
  throw std::runtime_error("task of kind 'fail' failed as asked (payload '" + as_text(payload) + "')");
}

}  // namespace

KindRegistry builtin_kinds() {
  KindRegistry kinds;
  kinds.add("square", square, square_integer);
  kinds.add("sleep", sleep_ms);
  kinds.add("spin", spin_us);
  kinds.add("primes", count_primes);
  kinds.add("fail", fail);
  return kinds;
}

}  // namespace zpipe
