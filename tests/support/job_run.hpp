// A job's three kinds of program started on loopback for a test, and checks
// of what the sink printed.
#pragma once

#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"

namespace zpipe::testing {

using namespace std::chrono_literals;
inline constexpr auto job_limit = 60s;

/// Where a program bound: waits at most `limit` for `log` to hold `marker`
/// followed by an endpoint (tcp://HOST:PORT or ipc://PATH) and returns that
/// endpoint. Fails the test, showing the log, when none appears in time.
[[nodiscard]] std::string bound_endpoint(const std::filesystem::path& log, std::string_view marker,
                                         std::chrono::milliseconds limit = 10s);

// One job's programs, endpoints and files; every process is killed and reaped
// when the test ends, however it ends.
//
// The sink and the ventilator bind tcp://127.0.0.1:* and the endpoint the
// kernel gave each is read back from its log, so no port is ever guessed.
// That fixes the order: the sink first, then the ventilator (it connects to
// the sink), then workers (they connect to both). A second sink or ventilator
// (a restart) binds the endpoint the first one had.
class JobRun {
 public:
  /// Starts a sink and returns once it has bound (its endpoint is then in
  /// sink_endpoint). It writes jsonl to results.jsonl, or with `to_file`
  /// false to its stdout (sink.out, sink2.out for a restart, ...).
  ChildProcess& sink(std::vector<std::string> extra = {}, bool to_file = true);
  /// Starts a worker; the sink and the ventilator must be started already.
  ChildProcess& worker(std::vector<std::string> extra = {}, const std::string& program = ZPIPE_WORKER);
  /// Starts a ventilator and returns once it has bound; the sink must be started already.
  ChildProcess& ventilator(std::vector<std::string> extra);
  /// Fixes both endpoints before anything starts, as ipc:// files in the
  /// scratch directory: for tests that start the programs in any order.
  void use_fixed_endpoints();

  [[nodiscard]] std::string log(const std::string& name) const { return read_file(dir / (name + ".err")); }
  [[nodiscard]] std::vector<std::string> results() const { return read_lines(dir / "results.jsonl"); }
  [[nodiscard]] int workers_started() const { return workers_; }

  ScratchDir dir;
  std::string ventilator_endpoint;
  std::string sink_endpoint;

 private:
  ChildProcess& start(std::vector<std::string> argv, const std::string& role);
  // Starts a program that binds `endpoint` (tcp://127.0.0.1:* when empty),
  // waits for its log's `marker` line, and records or checks the endpoint.
  ChildProcess& start_bound(std::vector<std::string> argv, const std::string& role, std::string& endpoint,
                            std::string_view marker);
  [[nodiscard]] std::filesystem::path latest_log(const std::string& role) const;
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
  std::string more;  // the fields after worker (an exec task's), from their leading comma
};

ResultLine parse_result_line(const std::string& line);

/// The tab-separated columns of a line (a joblog's), empty ones included.
std::vector<std::string> split_tabs(const std::string& line);

/// Parses every line; fails unless each id in 1..total appears exactly once.
std::map<std::uint64_t, ResultLine> every_task_once(const std::vector<std::string>& lines, std::uint64_t total);

void check_squares(const std::map<std::uint64_t, ResultLine>& by_id);
/// As above, and each result's worker is one of `workers` (key names, with CURVE).
void check_squares(const std::map<std::uint64_t, ResultLine>& by_id, const std::vector<std::string>& workers);

}  // namespace zpipe::testing
