// The sink's command line.
#include "zpipe/command_line.hpp"
#include "zpipe/sink.hpp"
#include "zpipe/sockets.hpp"

namespace zpipe {

SinkConfig parse_sink_options(int argc, const char* const* argv) {
  SinkConfig config;
  cxxopts::Options options(program_name(argc, argv, "zpipe-sink"), "Collects the results of a zpipe job and prints every task once.");
  options.add_options()
      ("bind", "Endpoint workers and the ventilator connect to", cxxopts::value<std::string>()->default_value(config.bind))
      ("format", "Output format: text, jsonl or csv", cxxopts::value<std::string>()->default_value("text"))
      ("output", "Write results to FILE instead of stdout", cxxopts::value<std::string>())
      ("progress", "Progress line on stderr: auto (when a terminal), always or never",
       cxxopts::value<std::string>()->default_value("auto"))
      ("journal", "Keep the job's results durably in FILE; a sink restarted with it takes up the job",
       cxxopts::value<std::string>())
      ("joblog", "Write GNU parallel's joblog of the job to FILE (Seq, Host, Starttime, JobRuntime, Send, Receive, "
       "Exitval, Signal, Command)", cxxopts::value<std::string>())
      ("results", "Write each task's stdout, stderr and exitval to DIR/<task id>/", cxxopts::value<std::string>())
      ("tag", "Start each text line with the task's input (an exec task's command) and a tab")
      ("keep-order", "Print results in task id order (the input's order), as parallel --keep-order does")
      ("reorder-buffer", "With --keep-order: the most results held waiting for an earlier one; the ventilator deals "
       "no further ahead (1 to 16777215)",
       cxxopts::value<std::uint64_t>()->default_value(std::to_string(config.reorder_buffer)));
  add_metrics_option(options);
  add_curve_options(options, CurveRole::sink);
  const auto parsed = parse_command_line(options, argc, argv);
  config.bind = parsed["bind"].as<std::string>();
  if (parsed.count("output") > 0) config.output = parsed["output"].as<std::string>();
  if (parsed.count("journal") > 0) config.journal = parsed["journal"].as<std::string>();
  if (parsed.count("joblog") > 0) config.joblog = parsed["joblog"].as<std::string>();
  if (parsed.count("results") > 0) config.results_dir = parsed["results"].as<std::string>();
  if (config.joblog.empty() != (parsed.count("joblog") == 0)) throw usage_error("--joblog needs a file name");
  if (config.results_dir.empty() != (parsed.count("results") == 0)) throw usage_error("--results needs a directory");
  config.tag = parsed.count("tag") > 0;
  config.keep_order = parsed.count("keep-order") > 0;
  config.reorder_buffer = parsed["reorder-buffer"].as<std::uint64_t>();
  // The ventilator's window is the buffer plus the task waited for, and
  // must stay below the sink's ledger lead (JobLedger::max_lead, 2^24).
  if (config.reorder_buffer < 1 || config.reorder_buffer >= (std::uint64_t{1} << 24))
    throw usage_error("--reorder-buffer must be between 1 and 16777215, not " + std::to_string(config.reorder_buffer));
  if (parsed.count("reorder-buffer") > 0 && !config.keep_order)
    throw usage_error("--reorder-buffer needs --keep-order");
  config.curve = curve_options(parsed, CurveRole::sink);
  config.metrics_file = metrics_option(parsed);
  const std::string format = parsed["format"].as<std::string>();
  if (format == "text") config.format = OutputFormat::text;
  else if (format == "jsonl") config.format = OutputFormat::jsonl;
  else if (format == "csv") config.format = OutputFormat::csv;
  else throw usage_error("--format must be text, jsonl or csv, not '" + format + "'");
  const std::string progress = parsed["progress"].as<std::string>();
  if (progress == "auto") config.progress = ProgressMode::automatic;
  else if (progress == "always") config.progress = ProgressMode::always;
  else if (progress == "never") config.progress = ProgressMode::never;
  else throw usage_error("--progress must be auto, always or never, not '" + progress + "'");
  check_endpoint(config.bind, "bind");
  return config;
}

}  // namespace zpipe
