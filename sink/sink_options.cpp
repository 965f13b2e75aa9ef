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
      ("tag", "Start each text line with the task's input (an exec task's command) and a tab");
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
