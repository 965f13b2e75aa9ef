// See job_run.hpp.
#include "support/job_run.hpp"

#include <regex>

namespace zpipe::testing {

JobRun::JobRun() : ventilator_endpoint(tcp_endpoint(free_port())), sink_endpoint(tcp_endpoint(free_port())) {}

// Every sink writes the same results file.
ChildProcess& JobRun::sink(std::vector<std::string> extra) {
  std::vector<std::string> argv{ZPIPE_SINK, "--bind", sink_endpoint, "--format", "jsonl", "--output",
                                (dir / "results.jsonl").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start(std::move(argv), "sink");
}

ChildProcess& JobRun::worker(std::vector<std::string> extra, const std::string& program) {
  std::vector<std::string> argv{program, "--ventilator", ventilator_endpoint, "--sink", sink_endpoint, "--once"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ++workers_;
  return start(std::move(argv), "worker");
}

ChildProcess& JobRun::ventilator(std::vector<std::string> extra) {
  std::vector<std::string> argv{ZPIPE_VENTILATOR, "--bind", ventilator_endpoint, "--sink", sink_endpoint};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start(std::move(argv), "ventilator");
}

// The first of a role logs to ROLE.err, a restart or another to ROLE2.err...
ChildProcess& JobRun::start(std::vector<std::string> argv, const std::string& role) {
  const int number = ++started_[role];
  const std::string name = number == 1 ? role : role + std::to_string(number);
  processes_.emplace_back(std::move(argv), dir / (name + ".out"), dir / (name + ".err"));
  return processes_.back();
}

ResultLine parse_result_line(const std::string& line) {
  static const std::regex shape(
      R"re(^\{"task_id":(\d+),"status":"(ok|error)","result":(null|-?\d+|"[^"]*"),"error":(null|"(?:[^"\\]|\\.)*"),"worker":"([^"]*)"\}$)re");
  std::smatch match;
  INFO(line);
  REQUIRE(std::regex_match(line, match, shape));
  return {std::stoull(match[1]), match[2], match[3], match[4], match[5]};
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

}  // namespace zpipe::testing
