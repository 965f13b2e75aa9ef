// What an operator sees of the real programs (issue 10): --version and
// --help, log lines and their formats, and the lines a program logs while
// it waits for something.
#include <catch2/catch.hpp>

#include <chrono>
#include <regex>
#include <string>

#include "support/job_run.hpp"
#include "support/process.hpp"
#include "zpipe/messages.hpp"

using namespace std::chrono_literals;
using zpipe::testing::ChildProcess;
using zpipe::testing::eventually;
using zpipe::testing::JobRun;
using zpipe::testing::read_file;
using zpipe::testing::ScratchDir;

namespace {

struct Answer {
  int status;
  std::string out;
  std::string err;
};

Answer run_to_end(const ScratchDir& dir, std::vector<std::string> argv) {
  ChildProcess process(std::move(argv), dir / "out", dir / "err");
  const auto status = process.wait_for(10s);
  REQUIRE(status.has_value());
  return {*status, read_file(dir / "out"), read_file(dir / "err")};
}

}  // namespace

TEST_CASE("every program prints its own name, version and protocol version for --version") {
  const auto [program, name] = GENERATE(table<std::string, std::string>({{ZPIPE_SINK, "zpipe-sink"},
                                                                          {ZPIPE_VENTILATOR, "zpipe-ventilator"},
                                                                          {ZPIPE_WORKER, "zpipe-worker"},
                                                                          {ZPIPE_STATUS, "zpipe-status"},
                                                                          {ZPIPE_EXAMPLE_WORKER, "zpipe-example-worker"}}));
  ScratchDir dir;
  const Answer answer = run_to_end(dir, {program, "--version"});
  INFO(answer.out << answer.err);
  CHECK(answer.status == 0);
  CHECK(answer.out == name + " (zpipe) " + ZPIPE_VERSION + "\nwire protocol version " +
                          std::to_string(zpipe::protocol_version) + "\n");
}

TEST_CASE("every program's --help names the program by its own name") {
  const auto [program, name] = GENERATE(table<std::string, std::string>({{ZPIPE_SINK, "zpipe-sink"},
                                                                          {ZPIPE_VENTILATOR, "zpipe-ventilator"},
                                                                          {ZPIPE_WORKER, "zpipe-worker"},
                                                                          {ZPIPE_STATUS, "zpipe-status"}}));
  ScratchDir dir;
  const Answer answer = run_to_end(dir, {program, "--help"});
  INFO(answer.out << answer.err);
  CHECK(answer.status == 0);
  CHECK_THAT(answer.out, Catch::Contains("Usage:\n  " + name + " [OPTION...]") && Catch::Contains("--version"));
}

TEST_CASE("a worker's --help lists its task kinds, a custom worker's own among them") {
  ScratchDir dir;
  const Answer builtin = run_to_end(dir, {ZPIPE_WORKER, "--help"});
  CHECK_THAT(builtin.out, Catch::Contains("Task kinds: fail, primes, sleep, spin, square, and exec with --allow-exec"));
  const Answer custom = run_to_end(dir, {ZPIPE_EXAMPLE_WORKER, "--help"});
  CHECK_THAT(custom.out, Catch::Contains("Task kinds: fail, primes, reverse, sleep, spin, square"));
}

// One 11 s wait covers four programs that each wait for something else.
TEST_CASE("a program that waits for the sink, a job, workers or results says so every 10 s") {
  JobRun run;
  auto& sink = run.sink();
  run.ventilator({"--count", "10", "--min-workers", "2"});
  // A worker the ventilator counts, whose sink does not exist.
  ChildProcess worker({ZPIPE_WORKER, "--ventilator", run.ventilator_endpoint, "--sink",
                       "ipc://" + (run.dir / "nothing-here.ipc").string()},
                      run.dir / "worker.out", run.dir / "worker.err");
  // A sink no ventilator talks to.
  ChildProcess idle_sink({ZPIPE_SINK, "--bind", "tcp://127.0.0.1:*"}, run.dir / "idle-sink.out",
                         run.dir / "idle-sink.err");
  const auto says = [&](const std::string& log, const std::string& text) {
    return read_file(run.dir / log).find(text) != std::string::npos;
  };
  const bool all_said = eventually([&] {
    return says("ventilator.err", "still waiting for workers: 1 of --min-workers 2 have said hello") &&
           says("worker.err", "still waiting for the sink at ipc://") &&
           says("idle-sink.err", "still waiting for a job") && says("sink.err", "still waiting for results of job");
  }, 15s);
  INFO("ventilator:\n" << run.log("ventilator") << "worker:\n" << read_file(run.dir / "worker.err") << "sink:\n"
                       << run.log("sink") << "idle sink:\n" << read_file(run.dir / "idle-sink.err"));
  CHECK(all_said);
  CHECK_FALSE(says("worker.err", "the ventilator at"));  // that link is up: not waited for
  (void)sink;
}

TEST_CASE("log lines carry an RFC 3339 time, a level and the role, as text or as one JSON object per line") {
  JobRun run;
  auto& sink = run.sink({"--log-format", "json"});
  run.ventilator({"--count", "20"});
  auto& worker = run.worker({"--log-level", "warning"});
  REQUIRE(sink.wait_for(30s) == 0);
  REQUIRE(worker.wait_for(10s) == 0);

  const std::regex text_line(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warning|error) ventilator: \S.*$)");
  const auto ventilator_lines = zpipe::testing::read_lines(run.dir / "ventilator.err");
  REQUIRE(ventilator_lines.size() >= 2);
  for (const auto& line : ventilator_lines) {
    INFO(line);
    CHECK(std::regex_match(line, text_line));
  }
  // Strict: the keys in this order, a string message with JSON escapes only.
  const std::regex json_line(
      R"re(^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","level":"(debug|info|warning|error)","role":"sink","pid":\d+,"message":"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-f]{4})*"\}$)re");
  const auto sink_lines = zpipe::testing::read_lines(run.dir / "sink.err");
  REQUIRE(sink_lines.size() >= 2);
  for (const auto& line : sink_lines) {
    INFO(line);
    CHECK(std::regex_match(line, json_line));
  }
  CHECK_THAT(run.log("sink"), Catch::Contains(R"("message":"collecting results at tcp://127.0.0.1:)"));
  // --log-level warning: the worker's info lines ("ready", "done") are not written.
  INFO("worker:\n" << run.log("worker"));
  CHECK(run.log("worker").find(" info ") == std::string::npos);
  CHECK(run.log("worker").find("ready") == std::string::npos);
}

TEST_CASE("a log option with a value it does not know is refused with exit status 2, naming the option") {
  ScratchDir dir;
  const Answer format = run_to_end(dir, {ZPIPE_SINK, "--log-format", "xml"});
  CHECK(format.status == 2);
  CHECK_THAT(format.err, Catch::Contains("--log-format must be text or json, not 'xml'"));
  const Answer level = run_to_end(dir, {ZPIPE_WORKER, "--log-level", "loud"});
  CHECK(level.status == 2);
  CHECK_THAT(level.err, Catch::Contains("--log-level must be debug, info, warning or error, not 'loud'"));
}
