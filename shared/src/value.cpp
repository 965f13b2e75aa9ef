// Conversions that task kinds and output formats share.
#include "zpipe/value.hpp"

#include <charconv>

namespace zpipe {

std::optional<std::int64_t> as_integer(const Value& value) {
  if (const auto* number = std::get_if<std::int64_t>(&value)) return *number;
  const auto* text = std::get_if<std::string>(&value);
  if (text == nullptr) return std::nullopt;
  std::string_view digits = *text;
  while (!digits.empty() && (digits.back() == ' ' || digits.back() == '\r' || digits.back() == '\t'))
    digits.remove_suffix(1);
  while (!digits.empty() && (digits.front() == ' ' || digits.front() == '\t')) digits.remove_prefix(1);
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  std::int64_t parsed = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
  if (error != std::errc{} || end != digits.data() + digits.size() || digits.empty()) return std::nullopt;
  return parsed;
}

std::string as_text(const Value& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* number = std::get_if<std::int64_t>(&value)) return std::to_string(*number);
  if (const auto* exec = std::get_if<ExecValue>(&value)) return (*exec)->out;
  return {};
}

}  // namespace zpipe
