// zpipe-status's command line.
#include "status_client.hpp"
#include "zpipe/command_line.hpp"
#include "zpipe/sockets.hpp"

namespace zpipe {

StatusConfig parse_status_options(int argc, const char* const* argv) {
  StatusConfig config;
  cxxopts::Options options(program_name(argc, argv, "zpipe-status"),
                           "Shows how a running zpipe job stands: progress, rate, ETA and each worker, as the "
                           "ventilator sees them.");
  options.add_options()
      ("ventilator", "Endpoint of the ventilator (its --bind)", cxxopts::value<std::string>()->default_value(config.ventilator))
      ("json", "Print each snapshot as one JSON object per line")
      ("timeout", "DURATION (such as 5s, 1500ms) to wait for an answer before exiting 3",
       cxxopts::value<std::string>()->default_value("5s"))
      ("watch", "Ask again every DURATION (such as 2s), like top; stop with Ctrl-C", cxxopts::value<std::string>())
      ("iterations", "With --watch: stop after N snapshots", cxxopts::value<std::string>());
  add_curve_options(options, CurveRole::client);
  options.add_options("security")("ventilator-key", "The ventilator's CURVE public key FILE; this program's key "
                                                    "must be in its --allow-workers or --allow-observers",
                                  cxxopts::value<std::string>());
  const auto parsed = parse_command_line(options, argc, argv);
  config.ventilator = parsed["ventilator"].as<std::string>();
  config.json = parsed.count("json") > 0;
  config.timeout = duration_option(parsed, "timeout");
  if (parsed.count("watch") > 0) {
    config.watch = duration_option(parsed, "watch");
    // The ventilator answers one connection at most every 50 ms (PROTOCOL.md §6.6).
    if (*config.watch < std::chrono::milliseconds(200)) throw usage_error("--watch must be at least 200ms");
  }
  if (parsed.count("iterations") > 0) {
    if (!config.watch) throw usage_error("--iterations needs --watch");
    config.iterations = number_option<std::uint64_t>(parsed, "iterations");
    if (config.iterations == 0) throw usage_error("--iterations must be at least 1");
  }
  config.curve = curve_options(parsed, CurveRole::client);
  config.ventilator_key = server_key_option(parsed, "ventilator-key", config.curve);
  check_endpoint(config.ventilator, "ventilator");
  return config;
}

}  // namespace zpipe
