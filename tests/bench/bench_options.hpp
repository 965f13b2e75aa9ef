// What the benchmark tools share on their command lines: the one error for
// a command line they do not understand, and a checked number.
#pragma once

#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>

namespace zpipe::bench {

/// A command line the tool does not understand: it prints this and its
/// usage, and exits 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `text` as a Number from `least` to `most`, else usage_error naming `option`.
template <typename Number>
Number parse_number(std::string_view option, std::string_view text, Number least, Number most) {
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value < least || value > most)
    throw usage_error(std::string(option) + " must be a number from " + std::to_string(least) + " to " +
                      std::to_string(most) + ", not '" + std::string(text) + "'");
  return value;
}

}  // namespace zpipe::bench
