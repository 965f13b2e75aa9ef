// See job_run.hpp.
#include "support/job_run.hpp"

#include <algorithm>
#include <regex>

namespace zpipe::testing {

namespace {
// The lines the programs log once bound (sink/sink.cpp, ventilator/ventilator.cpp).
constexpr std::string_view sink_bound_marker = "collecting results at ";
constexpr std::string_view ventilator_bound_marker = "workers connect to ";
constexpr std::string_view ephemeral_loopback = "tcp://127.0.0.1:*";
}  // namespace

std::string bound_endpoint(const std::filesystem::path& log, std::string_view marker, std::chrono::milliseconds limit) {
  static const std::regex shape(R"(tcp://[^\s,:]+:\d+|ipc://[^\s,]+)");
  std::string endpoint;
  const bool found = eventually([&] {
    const std::string text = read_file(log);
    const auto at = text.find(marker);
    if (at == std::string::npos) return false;
    const auto from = at + marker.size();
    const auto end = text.find_first_of(" ,\"\n", from);  // '"': the end of a JSON log line's message
    if (end == std::string::npos) return false;  // the line is not all written yet
    endpoint = text.substr(from, end - from);
    return true;
  }, limit);
  INFO(log.string() << " after " << limit.count() << " ms:\n" << read_file(log));
  INFO("looked for '" << marker << "' followed by an endpoint");
  REQUIRE(found);
  INFO("endpoint read back: '" << endpoint << "'");
  REQUIRE(std::regex_match(endpoint, shape));
  return endpoint;
}

void JobRun::use_fixed_endpoints() {
  REQUIRE(started_.empty());
  ventilator_endpoint = "ipc://" + (dir / "ventilator.ipc").string();
  sink_endpoint = "ipc://" + (dir / "sink.ipc").string();
}

// Every sink writes the same results file.
ChildProcess& JobRun::sink(std::vector<std::string> extra, bool to_file) {
  std::vector<std::string> argv{ZPIPE_SINK, "--format", "jsonl"};
  if (to_file) argv.insert(argv.end(), {"--output", (dir / "results.jsonl").string()});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_bound(std::move(argv), "sink", sink_endpoint, sink_bound_marker);
}

ChildProcess& JobRun::worker(std::vector<std::string> extra, const std::string& program) {
  INFO("a worker needs the endpoints of the sink and the ventilator: start them first");
  REQUIRE_FALSE(ventilator_endpoint.empty());
  REQUIRE_FALSE(sink_endpoint.empty());
  std::vector<std::string> argv{program, "--ventilator", ventilator_endpoint, "--sink", sink_endpoint, "--once"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ++workers_;
  return start(std::move(argv), "worker");
}

ChildProcess& JobRun::ventilator(std::vector<std::string> extra) {
  INFO("the ventilator needs the sink's endpoint: start the sink first");
  REQUIRE_FALSE(sink_endpoint.empty());
  std::vector<std::string> argv{ZPIPE_VENTILATOR, "--sink", sink_endpoint};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_bound(std::move(argv), "ventilator", ventilator_endpoint, ventilator_bound_marker);
}

// A restart binds the endpoint its predecessor had: that one is dead, so the
// port is free again unless another program took it meanwhile, which the
// check below would show.
ChildProcess& JobRun::start_bound(std::vector<std::string> argv, const std::string& role, std::string& endpoint,
                                  std::string_view marker) {
  const bool first = endpoint.empty();
  argv.insert(argv.begin() + 1, {"--bind", first ? std::string(ephemeral_loopback) : endpoint});
  ChildProcess& process = start(std::move(argv), role);
  const std::string bound = bound_endpoint(latest_log(role), marker);
  if (first) endpoint = bound;
  REQUIRE(bound == endpoint);
  return process;
}

std::filesystem::path JobRun::latest_log(const std::string& role) const {
  const int number = started_.at(role);
  return dir / ((number == 1 ? role : role + std::to_string(number)) + ".err");
}

// The first of a role logs to ROLE.err, a restart or another to ROLE2.err...
ChildProcess& JobRun::start(std::vector<std::string> argv, const std::string& role) {
  const int number = ++started_[role];
  const std::string name = number == 1 ? role : role + std::to_string(number);
  processes_.emplace_back(std::move(argv), dir / (name + ".out"), dir / (name + ".err"));
  return processes_.back();
}

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> columns;
  std::size_t from = 0;
  for (std::size_t tab; (tab = line.find('\t', from)) != std::string::npos; from = tab + 1)
    columns.push_back(line.substr(from, tab - from));
  columns.push_back(line.substr(from));
  return columns;
}

ResultLine parse_result_line(const std::string& line) {
  static const std::regex shape(
      R"re(^\{"task_id":(\d+),"status":"(ok|error)","result":(null|-?\d+|"(?:[^"\\]|\\.)*"),"error":(null|"(?:[^"\\]|\\.)*"),"worker":"([^"]*)"(,.*)?\}$)re");
  std::smatch match;
  INFO(line);
  REQUIRE(std::regex_match(line, match, shape));
  return {std::stoull(match[1]), match[2], match[3], match[4], match[5], match[6]};
}

std::map<std::uint64_t, ResultLine> every_task_once(const std::vector<std::string>& lines, std::uint64_t total) {
  std::map<std::uint64_t, ResultLine> by_id;
  for (const auto& line : lines) {
    const ResultLine result = parse_result_line(line);
    INFO("task " << result.task_id);
    REQUIRE(by_id.emplace(result.task_id, result).second);
  }
  REQUIRE(by_id.size() == total);
  REQUIRE(by_id.begin()->first == 1);
  REQUIRE(by_id.rbegin()->first == total);
  return by_id;
}

void check_squares(const std::map<std::uint64_t, ResultLine>& by_id) {
  for (const auto& [id, result] : by_id) {
    INFO("task " << id);
    REQUIRE(result.status == "ok");
    REQUIRE(result.result == std::to_string(id * id));
  }
}

void check_squares(const std::map<std::uint64_t, ResultLine>& by_id, const std::vector<std::string>& workers) {
  check_squares(by_id);
  for (const auto& [id, result] : by_id) {
    INFO("task " << id << " by '" << result.worker << "'");
    REQUIRE(std::find(workers.begin(), workers.end(), result.worker) != workers.end());
  }
}

}  // namespace zpipe::testing
