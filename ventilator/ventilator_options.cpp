// The ventilator's command line.
#include "zpipe/codec.hpp"
#include "zpipe/command_line.hpp"
#include "zpipe/halt_policy.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/ventilator.hpp"

namespace zpipe {

VentilatorConfig parse_ventilator_options(int argc, const char* const* argv) {
  VentilatorConfig config;
  cxxopts::Options options(program_name(argc, argv, "zpipe-ventilator"), "Reads a job's tasks and deals them to zpipe workers.");
  options.add_options()
      ("count", "Job of N tasks; task i carries the integer i", cxxopts::value<std::string>())
      ("input", "Job of one task per line of FILE ('-' for stdin)", cxxopts::value<std::string>())
      ("kind", "Task kind the workers run", cxxopts::value<std::string>()->default_value(config.kind))
      ("command", "With --input: run TEMPLATE for each line, as GNU parallel does ({} {.} {/} {//} {/.} {#}, "
       "each value shell-quoted; no replacement string appends {}); implies --kind exec",
       cxxopts::value<std::string>())
      ("batch", "Tasks per frame (fewer where their payloads pass about 8 MiB)", cxxopts::value<std::string>()->default_value(std::to_string(config.batch)))
      ("min-workers", "Start dealing once this many workers have said hello",
       cxxopts::value<std::string>()->default_value(std::to_string(config.min_workers)))
      ("max-in-flight", "Tasks read but not yet acknowledged by the sink, at most",
       cxxopts::value<std::string>()->default_value(std::to_string(config.max_in_flight)))
      ("bind", "Endpoint workers connect to", cxxopts::value<std::string>()->default_value(config.bind))
      ("sink", "Endpoint of the sink", cxxopts::value<std::string>()->default_value(config.sink))
      ("job-id", "Job id (default: random)", cxxopts::value<std::string>())
      ("worker-timeout", "Milliseconds of silence after which a worker is taken for gone and its tasks dealt again",
       cxxopts::value<std::string>()->default_value(std::to_string(config.worker_timeout.count())))
      ("max-attempts", "Workers a task may be lost with before it is reported failed",
       cxxopts::value<std::string>()->default_value(std::to_string(config.max_attempts)))
      ("retries", "Run a failed task again, up to N more times, on another worker where one is ready "
       "(GNU parallel's --retries N+1, which counts the first try too); the sink's joblog has every attempt, "
       "its output only the last",
       cxxopts::value<std::string>()->default_value(std::to_string(config.retries)))
      ("task-timeout", "DURATION (such as 90s, 5m, 1500ms) a live worker may hold a task before it is dealt again "
       "and counts an attempt; default: no limit", cxxopts::value<std::string>())
      ("max-held-per-worker", "Tasks one worker may hold at once, whatever window it asks for, until the sink "
       "acknowledges them (default: --max-in-flight)", cxxopts::value<std::string>())
      ("kind-timeout", "Seconds the job may wait while workers are connected and none runs --kind; then it is "
       "cancelled and the ventilator exits 3 (0: wait for ever)",
       cxxopts::value<std::string>()->default_value(std::to_string(config.kind_timeout.count())))
      ("halt", "When to end the job early, as GNU parallel's --halt: soon,fail=N (deal nothing more after N tasks "
       "failed, let what workers hold finish), now,fail=N (cancel what workers hold too), fail=P% (P% of the "
       "tasks done failed), success=N or success=P%; the sink judges it, and both exit 5",
       cxxopts::value<std::string>()->default_value("never"))
      ("resume", "Continue the sink's job of this same input, dealing only what it has no result for")
      ("resume-failed", "As --resume, and run again the tasks whose result failed (the sink's --journal keeps "
       "which); implies --resume");
  add_metrics_option(options);
  add_curve_options(options, CurveRole::ventilator);
  options.add_options("security")("sink-key", "The sink's CURVE public key FILE", cxxopts::value<std::string>());
  const auto parsed = parse_command_line(options, argc, argv);
  if (parsed.count("count") > 0) config.count = number_option<std::uint64_t>(parsed, "count");
  if (parsed.count("input") > 0) config.input = parsed["input"].as<std::string>();
  if (parsed.count("job-id") > 0) config.job_id = number_option<std::uint64_t>(parsed, "job-id");
  config.kind = parsed["kind"].as<std::string>();
  if (parsed.count("command") > 0) {
    config.command = parsed["command"].as<std::string>();
    if (config.command.empty()) throw usage_error("--command needs a template");
    if (parsed.count("kind") > 0 && config.kind != "exec") throw usage_error("--command runs shell commands: --kind must be exec");
    if (parsed.count("input") == 0) throw usage_error("--command needs --input: its lines fill the template");
    config.kind = "exec";
  }
  config.batch = number_option<std::uint32_t>(parsed, "batch");
  config.min_workers = number_option<std::uint32_t>(parsed, "min-workers");
  config.max_in_flight = number_option<std::uint64_t>(parsed, "max-in-flight");
  config.bind = parsed["bind"].as<std::string>();
  config.sink = parsed["sink"].as<std::string>();
  config.worker_timeout = std::chrono::milliseconds(number_option<std::uint32_t>(parsed, "worker-timeout"));
  config.max_attempts = number_option<std::uint32_t>(parsed, "max-attempts");
  config.retries = number_option<std::uint32_t>(parsed, "retries");
  if (config.retries > 1000) throw usage_error("--retries must be at most 1000");
  if (parsed.count("task-timeout") > 0) config.task_timeout = duration_option(parsed, "task-timeout");
  if (parsed.count("max-held-per-worker") > 0)
    config.max_held_per_worker = number_option<std::uint64_t>(parsed, "max-held-per-worker");
  config.kind_timeout = std::chrono::seconds(number_option<std::uint32_t>(parsed, "kind-timeout"));
  // Whether the --input can be resumed (a regular file, stdin included) is
  // known only once it is opened: line_source() refuses a pipe then.
  config.resume_failed = parsed.count("resume-failed") > 0;
  config.resume = parsed.count("resume") > 0 || config.resume_failed;
  config.halt = parse_halt_policy(parsed["halt"].as<std::string>());
  config.metrics_file = metrics_option(parsed);
  config.curve = curve_options(parsed, CurveRole::ventilator);
  config.sink_key = server_key_option(parsed, "sink-key", config.curve);
  if (config.count.has_value() == !config.input.empty())
    throw usage_error("give exactly one of --count N or --input FILE");
  if (config.kind.empty() || config.kind.size() > 256) throw usage_error("--kind must be 1 to 256 bytes");
  const std::size_t most_per_frame = DecodeLimits{}.max_items;
  if (config.batch < 1 || config.batch > most_per_frame)
    throw usage_error("--batch must be between 1 and " + std::to_string(most_per_frame));
  // The sink refuses ids further than this beyond the lowest it lacks, so
  // its memory follows what is in flight (JobLedger::max_lead).
  if (config.max_in_flight > (std::uint64_t{1} << 24))
    throw usage_error("--max-in-flight must be at most 16777216 (2^24), not " + std::to_string(config.max_in_flight));
  if (config.max_in_flight < config.batch)
    throw usage_error("--max-in-flight must be at least --batch (" + std::to_string(config.batch) + ")");
  if (config.worker_timeout < std::chrono::milliseconds(1000))
    throw usage_error("--worker-timeout must be at least 1000 ms: workers send a keep-alive every 250 ms");
  if (config.max_attempts < 1) throw usage_error("--max-attempts must be at least 1");
  if (config.max_held_per_worker && *config.max_held_per_worker < config.batch)
    throw usage_error("--max-held-per-worker must be at least --batch (" + std::to_string(config.batch) + ")");
  check_endpoint(config.bind, "bind");
  check_endpoint(config.sink, "sink");
  return config;
}

}  // namespace zpipe
