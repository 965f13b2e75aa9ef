// Command-line parsing the three programs share: --help, --version, stray
// arguments, and numbers whose errors name the option (cxxopts' own do not).
#pragma once

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <cxxopts.hpp>

#include "zpipe/curve.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/messages.hpp"
#include "zpipe/version.hpp"

namespace zpipe {

/// Returns the name the program was started by (argv[0] without its
/// directory), so --help and --version name zpipe-worker, or a custom
/// worker's own binary; `fallback` when argv[0] is missing.
inline std::string program_name(int argc, const char* const* argv, std::string_view fallback) {
  if (argc < 1 || argv[0] == nullptr || argv[0][0] == '\0') return std::string(fallback);
  const std::string_view path = argv[0];
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

/// Applies --log-format and --log-level (logging is the whole process's).
/// Throws usage_error for a value it does not know.
inline void apply_logging_options(const cxxopts::ParseResult& parsed) {
  const std::string format = parsed["log-format"].as<std::string>();
  if (format == "text") set_log_format(LogFormat::text);
  else if (format == "json") set_log_format(LogFormat::json);
  else throw usage_error("--log-format must be text or json, not '" + format + "'");
  const std::string level = parsed["log-level"].as<std::string>();
  if (level == "debug") set_log_level(LogLevel::debug);
  else if (level == "info") set_log_level(LogLevel::info);
  else if (level == "warning") set_log_level(LogLevel::warning);
  else if (level == "error") set_log_level(LogLevel::error);
  else throw usage_error("--log-level must be debug, info, warning or error, not '" + level + "'");
}

/// Parses argv. Prints the help (then `help_epilog`) and exits 0 for
/// -h/--help; prints the version and the wire protocol's and exits 0 for
/// --version. Applies the logging options. Throws usage_error for unknown
/// options and stray arguments.
inline cxxopts::ParseResult parse_command_line(cxxopts::Options& options, int argc, const char* const* argv,
                                               std::string_view help_epilog = {}) {
  options.add_options()("h,help", "Show this help")("version", "Show the version and the wire protocol's version");
  options.add_options("logging")(
      "log-format", "Log lines on stderr as text, or json (one object per line, for log shippers)",
      cxxopts::value<std::string>()->default_value("text"))(
      "log-level", "Least level logged: debug, info, warning or error", cxxopts::value<std::string>()->default_value("info"));
  try {
    auto parsed = options.parse(argc, argv);
    if (parsed.count("help") > 0) {
      std::cout << options.help() << help_epilog;
      std::exit(exit_ok);
    }
    if (parsed.count("version") > 0) {
      // The first line is the GNU form that help2man reads for the man page.
      std::cout << options.program() << " (zpipe) " << version << "\nwire protocol version " << protocol_version
                << '\n';
      std::exit(exit_ok);
    }
    if (!parsed.unmatched().empty()) throw usage_error("unexpected argument '" + parsed.unmatched().front() + "'");
    apply_logging_options(parsed);
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

/// A duration option: a whole number and a unit, ms, s, m or h ("90s").
inline std::chrono::milliseconds duration_option(const cxxopts::ParseResult& parsed, const std::string& name) {
  const std::string text = parsed[name].as<std::string>();
  std::uint64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  const std::uint64_t scale = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60'000 : unit == "h" ? 3'600'000 : 0;
  if (error != std::errc{} || end == text.data() || scale == 0 || number == 0 || number > 365ULL * 24 * 3'600'000 / scale)
    throw usage_error("--" + name + " must be a positive duration with a unit, such as 1500ms, 90s, 5m or 2h; not '" +
                      text + "'");
  return std::chrono::milliseconds(number * scale);
}

/// Adds --metrics-file.
inline void add_metrics_option(cxxopts::Options& options) {
  options.add_options("monitoring")("metrics-file",
                                    "Write counters and gauges to FILE every second, in Prometheus' text format "
                                    "(for node_exporter's textfile collector: name it *.prom)",
                                    cxxopts::value<std::string>());
}

/// Returns --metrics-file, or an empty string without it.
inline std::string metrics_option(const cxxopts::ParseResult& parsed) {
  if (parsed.count("metrics-file") == 0) return {};
  std::string path = parsed["metrics-file"].as<std::string>();
  if (path.empty()) throw usage_error("--metrics-file needs a file name");
  return path;
}

/// Which CURVE options a program takes: the ventilator serves workers, the
/// sink serves workers and a ventilator, a worker only connects.
enum class CurveRole { ventilator, sink, client };

/// Adds --curve-secret, --require-curve and, for servers, the allow-lists.
inline void add_curve_options(cxxopts::Options& options, CurveRole role) {
  options.add_options("security")("curve-secret", "This program's CURVE secret key FILE (made by zpipe-keygen)",
                                  cxxopts::value<std::string>())(
      "require-curve", "Refuse to run without CURVE keys");
  if (role == CurveRole::client) return;
  options.add_options("security")(
      "allow-workers", "DIR of worker public keys (NAME.pub) admitted as workers; re-read every second",
      cxxopts::value<std::string>())("allow-keys", "Replaced by --allow-workers (and, on the sink, --allow-ventilators)",
                                     cxxopts::value<std::string>());
  if (role == CurveRole::sink)
    options.add_options("security")(
        "allow-ventilators", "DIR of ventilator public keys admitted as ventilators; re-read every second",
        cxxopts::value<std::string>());
  if (role == CurveRole::ventilator)
    options.add_options("security")(
        "allow-observers", "DIR of public keys that may only ask how the job stands (zpipe-status); workers may too; "
        "re-read every second", cxxopts::value<std::string>());
}

/// Reads the CURVE options. Throws usage_error for a bad key file or an
/// incomplete set.
inline CurveConfig curve_options(const cxxopts::ParseResult& parsed, CurveRole role) {
  CurveConfig curve;
  curve.require = parsed.count("require-curve") > 0;
  if (parsed.count("curve-secret") > 0)
    curve.own = read_secret_key_file(parsed["curve-secret"].as<std::string>(), "curve-secret");
  if (role == CurveRole::client) {
    if (curve.require && !curve.enabled()) throw usage_error("--require-curve needs --curve-secret");
    return curve;
  }
  if (parsed.count("allow-keys") > 0)
    throw usage_error(role == CurveRole::sink
                          ? "--allow-keys admitted every role; give the sink --allow-workers DIR and "
                            "--allow-ventilators DIR, each with the keys of that role only"
                          : "--allow-keys is now --allow-workers");
  const std::vector<std::pair<const char*, Role>> options =
      role == CurveRole::sink ? std::vector<std::pair<const char*, Role>>{{"allow-workers", Role::worker},
                                                                          {"allow-ventilators", Role::ventilator}}
                              : std::vector<std::pair<const char*, Role>>{{"allow-workers", Role::worker}};
  // Observers are optional: without them, only workers may ask for status.
  if (role == CurveRole::ventilator && parsed.count("allow-observers") > 0)
    curve.allow.push_back({parsed["allow-observers"].as<std::string>(), Role::observer, "allow-observers"});
  for (const auto& [option, admitted] : options) {
    if (parsed.count(option) > 0) {
      curve.allow.push_back({parsed[option].as<std::string>(), admitted, option});
    } else if (curve.enabled()) {
      throw usage_error(std::string("--curve-secret needs --") + option +
                        " DIR: the secret makes this program a CURVE server, and the allow-lists say which keys "
                        "it admits, for which role");
    }
  }
  if (!curve.enabled() && !curve.allow.empty())
    throw usage_error("--" + curve.allow.front().option + " needs --curve-secret (this program's own key)");
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
