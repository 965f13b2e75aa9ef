// Command-line parsing the three programs share: --help, stray arguments,
// and numbers whose errors name the option (cxxopts' own do not).
#pragma once

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>

#include <cxxopts.hpp>

#include "zpipe/curve.hpp"
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

/// Which CURVE options a program takes.
enum class CurveRole { server_and_client, client };

/// Adds --curve-secret, --require-curve and, for servers, --allow-keys.
inline void add_curve_options(cxxopts::Options& options, CurveRole role) {
  options.add_options("security")("curve-secret", "This program's CURVE secret key FILE (made by zpipe-keygen)",
                                  cxxopts::value<std::string>())(
      "require-curve", "Refuse to run without CURVE keys");
  if (role == CurveRole::server_and_client)
    options.add_options("security")("allow-keys", "DIR of client public keys (*.pub) admitted; re-read every second",
                                     cxxopts::value<std::string>());
}

/// Reads the CURVE options. Throws usage_error for a bad key file or an
/// incomplete set.
inline CurveConfig curve_options(const cxxopts::ParseResult& parsed, CurveRole role) {
  CurveConfig curve;
  curve.require = parsed.count("require-curve") > 0;
  if (parsed.count("curve-secret") > 0)
    curve.own = read_secret_key_file(parsed["curve-secret"].as<std::string>(), "curve-secret");
  if (role == CurveRole::server_and_client && parsed.count("allow-keys") > 0)
    curve.allow_keys_dir = parsed["allow-keys"].as<std::string>();
  if (role == CurveRole::server_and_client && curve.enabled() != !curve.allow_keys_dir.empty())
    throw usage_error("--curve-secret and --allow-keys go together: the secret makes this program a CURVE server, "
                      "the allow-list says which clients it admits");
  if (curve.require && !curve.enabled()) throw usage_error("--require-curve needs --curve-secret");
  return curve;
}

/// Reads a server's public key option, required when CURVE is on.
inline std::string server_key_option(const cxxopts::ParseResult& parsed, const std::string& name,
                                     const CurveConfig& curve) {
  if (parsed.count(name) == 0) {
    if (curve.enabled()) throw usage_error("--curve-secret needs --" + name + " (that server's public key file)");
    return {};
  }
  if (!curve.enabled()) throw usage_error("--" + name + " needs --curve-secret (this program's own key)");
  return read_public_key_file(parsed[name].as<std::string>(), name);
}

}  // namespace zpipe
