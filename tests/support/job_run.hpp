// A job's three kinds of program started on loopback for a test, and checks
// of what the sink printed.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace zpipe::testing {

using namespace std::chrono_literals;
inline constexpr auto job_limit = 60s;

// One job's programs, ports and files; every process is killed and reaped
// when the test ends, however it ends.
class JobRun {
 public:
  JobRun();

  ChildProcess& sink(std::vector<std::string> extra = {});
  ChildProcess& worker(std::vector<std::string> extra = {}, const std::string& program = ZPIPE_WORKER);
  ChildProcess& ventilator(std::vector<std::string> extra);

  [[nodiscard]] std::string log(const std::string& name) const { return read_file(dir / (name + ".err")); }
  [[nodiscard]] std::vector<std::string> results() const { return read_lines(dir / "results.jsonl"); }
  [[nodiscard]] int workers_started() const { return workers_; }

  ScratchDir dir;
  std::string ventilator_endpoint;
  std::string sink_endpoint;

 private:
  ChildProcess& start(std::vector<std::string> argv, const std::string& role);
  std::deque<ChildProcess> processes_;
  std::map<std::string, int> started_;
  int workers_ = 0;
};

struct ResultLine {
  std::uint64_t task_id;
  std::string status;
  std::string result;
  std::string error;
  std::string worker;
};

ResultLine parse_result_line(const std::string& line);

/// Parses every line; fails unless each id in 1..total appears exactly once.
std::map<std::uint64_t, ResultLine> every_task_once(const std::vector<std::string>& lines, std::uint64_t total);

void check_squares(const std::map<std::uint64_t, ResultLine>& by_id);

}  // namespace zpipe::testing
