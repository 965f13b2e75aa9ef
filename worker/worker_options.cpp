// The worker's command line.
#include "exec_kind.hpp"
#include "zpipe/command_line.hpp"
#include "zpipe/guarded_main.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/worker.hpp"

namespace zpipe {

namespace {

// Which kinds this worker runs: a custom worker has kinds of its own, and
// --kind on the ventilator must name one of them.
std::string kinds_epilog(const KindRegistry* kinds) {
  if (kinds == nullptr) return {};
  return "\nTask kinds: " + kinds->names() + (kinds->find("exec") ? "" : ", and exec with --allow-exec") + "\n";
}

}  // namespace

WorkerConfig parse_worker_options(int argc, const char* const* argv, std::string_view program,
                                  const KindRegistry* kinds) {
  WorkerConfig config;
  cxxopts::Options options(program_name(argc, argv, program), "Runs tasks from a zpipe ventilator and sends the results to a sink.");
  options.add_options()
      ("ventilator", "Endpoint of the ventilator to take tasks from",
       cxxopts::value<std::string>()->default_value(config.ventilator))
      ("sink", "Endpoint of the sink to send results to", cxxopts::value<std::string>()->default_value(config.sink))
      ("name", "Name of this worker in results and logs (default HOST:PID)", cxxopts::value<std::string>())
      ("threads", "Task loops in this process", cxxopts::value<std::string>()->default_value("1"))
      ("once", "Exit when the first job ends, instead of serving the next one")
      ("bundle", "Most task frames the ventilator may send in one message, when it deals this worker quick "
                 "tasks in a row (1: one frame per message)",
       cxxopts::value<std::string>()->default_value(std::to_string(config.bundle)));
  options.add_options("exec")("allow-exec", "Run tasks of kind exec: the payload is a shell command line")(
      "allow-exec-without-curve", "Allow exec even without CURVE keys (anyone who reaches the ventilator could run commands)")(
      "exec-timeout", "Seconds an exec task may run before its process group is killed",
      cxxopts::value<std::string>()->default_value("60"))(
      "max-output", "Bytes of stdout, and of stderr, kept per exec task (at most 1048576)",
      cxxopts::value<std::string>()->default_value("1048576"))(
      "on-truncate", "fail: an exec task whose output was cut fails; keep: it succeeds, marked truncated",
      cxxopts::value<std::string>()->default_value("fail"));
  add_metrics_option(options);
  add_curve_options(options, CurveRole::client);
  options.add_options("security")("ventilator-key", "The ventilator's CURVE public key FILE",
                                  cxxopts::value<std::string>())(
      "sink-key", "The sink's CURVE public key FILE", cxxopts::value<std::string>());
  const auto parsed = parse_command_line(options, argc, argv, kinds_epilog(kinds));
  config.ventilator = parsed["ventilator"].as<std::string>();
  config.sink = parsed["sink"].as<std::string>();
  if (parsed.count("name") > 0) config.name = parsed["name"].as<std::string>();
  config.threads = number_option<unsigned>(parsed, "threads");
  config.once = parsed.count("once") > 0;
  config.bundle = number_option<std::uint32_t>(parsed, "bundle");
  config.metrics_file = metrics_option(parsed);
  config.curve = curve_options(parsed, CurveRole::client);
  config.ventilator_key = server_key_option(parsed, "ventilator-key", config.curve);
  config.sink_key = server_key_option(parsed, "sink-key", config.curve);
  config.allow_exec = parsed.count("allow-exec") > 0;
  config.exec_timeout = std::chrono::seconds(number_option<std::uint32_t>(parsed, "exec-timeout"));
  config.max_output = number_option<std::uint32_t>(parsed, "max-output");
  const std::string on_truncate = parsed["on-truncate"].as<std::string>();
  if (on_truncate != "fail" && on_truncate != "keep") throw usage_error("--on-truncate must be fail or keep, not '" + on_truncate + "'");
  config.keep_truncated = on_truncate == "keep";
  if (config.max_output < 1 || config.max_output > 1048576)
    throw usage_error("--max-output must be between 1 and 1048576 bytes (a value on the wire is at most 1 MiB)");
  if (config.allow_exec && !config.curve.enabled() && parsed.count("allow-exec-without-curve") == 0)
    throw usage_error("--allow-exec without CURVE keys would let anyone who can reach the ventilator run commands here: "
                      "add --curve-secret (with --ventilator-key and --sink-key), or --allow-exec-without-curve to force it");
  if (config.exec_timeout.count() == 0) throw usage_error("--exec-timeout must be at least 1 second");
  check_endpoint(config.ventilator, "ventilator");
  check_endpoint(config.sink, "sink");
  if (config.threads < 1 || config.threads > 256) throw usage_error("--threads must be between 1 and 256");
  if (config.bundle < 1 || config.bundle > 65536) throw usage_error("--bundle must be between 1 and 65536");
  if (config.name.size() > 256) throw usage_error("--name must be at most 256 bytes");
  return config;
}

int worker_main(int argc, const char* const* argv, const KindRegistry& kinds, std::string_view program) {
  return guarded_main(program, [&] {
    const WorkerConfig config = parse_worker_options(argc, argv, program, &kinds);
    install_stop_signals();
    KindRegistry with_exec = kinds;
    with_exec.add("exec", config.allow_exec ? exec_kind(ExecLimits{config.exec_timeout, config.max_output, config.keep_truncated}) : refused_exec_kind());
    return run_worker(config, with_exec);
  });
}

}  // namespace zpipe
