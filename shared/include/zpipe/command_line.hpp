// Command-line parsing the three programs share: --help, stray arguments,
// and numbers whose errors name the option (cxxopts' own do not).
#pragma once

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>

#include <cxxopts.hpp>

#include "zpipe/exit_codes.hpp"

namespace zpipe {

/// Parses argv. Prints the help and exits 0 for -h/--help. Throws
/// usage_error for unknown options and stray arguments.
inline cxxopts::ParseResult parse_command_line(cxxopts::Options& options, int argc, const char* const* argv) {
  options.add_options()("h,help", "Show this help");
  try {
    auto parsed = options.parse(argc, argv);
    if (parsed.count("help") > 0) {
      std::cout << options.help();
      std::exit(exit_ok);
    }
    if (!parsed.unmatched().empty()) throw usage_error("unexpected argument '" + parsed.unmatched().front() + "'");
    return parsed;
  } catch (const cxxopts::exceptions::exception& e) {
    throw usage_error(e.what());
  }
}

/// Returns a whole-number option given as text (declare it with
/// cxxopts::value<std::string>()), or throws usage_error naming it.
template <class Number>
Number number_option(const cxxopts::ParseResult& parsed, const std::string& name) {
  const std::string text = parsed[name].as<std::string>();
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty())
    throw usage_error("--" + name + " must be a whole number from " + std::to_string(std::numeric_limits<Number>::min()) +
                      " to " + std::to_string(std::numeric_limits<Number>::max()) + ", not '" + text + "'");
  return value;
}

}  // namespace zpipe
