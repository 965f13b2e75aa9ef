// How a job begins and ends through the real programs: input from a pipe,
// a journal under large results, a second sink that must not touch the
// first one's files, cancellation by signal, and a ventilator restarted
// after its job completed. Each case once failed on main (issue "A core you
// can prove", points 1 to 4 and 8).
#include <signal.h>

#include <catch2/catch.hpp>
#include <regex>
#include <set>

#include "support/job_run.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/sockets.hpp"

using namespace zpipe::testing;

namespace {

std::uint64_t job_id_in(const std::string& log) {
  std::smatch match;
  const std::regex id("job (\\d+): workers connect to");
  REQUIRE(std::regex_search(log, match, id));
  return std::stoull(match[1]);
}

}  // namespace

TEST_CASE("a job read from a pipe runs every task") {
  JobRun run;
  auto& sink = run.sink();
  // The shell's pipe is the ventilator's stdin, named by a path as <(...)
  // would be: it can be read only once.
  ChildProcess ventilator({"/bin/bash", "-c",
                           "seq 1 300 | exec " ZPIPE_VENTILATOR " --input /dev/stdin --bind tcp://127.0.0.1:* --sink " +
                               run.sink_endpoint},
                          run.dir / "ventilator.out", run.dir / "ventilator.err");
  run.ventilator_endpoint = bound_endpoint(run.dir / "ventilator.err", "workers connect to ");
  run.worker();
  REQUIRE(ventilator.wait_for(job_limit) == 0);
  REQUIRE(sink.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 300);
  CHECK(by_id.at(300).result == "90000");
  CHECK_THAT(run.log("ventilator"), Catch::Contains("300 tasks read, 300 acknowledged"));
}

TEST_CASE("with a journal results that fill its buffer at once are still acknowledged") {
  JobRun run;
  std::string lines;
  for (int i = 0; i < 256; ++i) lines += std::string(64 * 1024, static_cast<char>('a' + i % 26)) + "\n";
  write_file(run.dir / "big.txt", lines);
  auto& sink = run.sink({"--journal", (run.dir / "journal").string()});
  auto& ventilator = run.ventilator({"--input", (run.dir / "big.txt").string(), "--kind", "reverse", "--batch", "128",
                                     "--max-in-flight", "128"});
  run.worker({}, ZPIPE_EXAMPLE_WORKER);
  REQUIRE(ventilator.wait_for(job_limit) == 0);
  REQUIRE(sink.wait_for(10s) == 0);
  CHECK(run.results().size() == 256);
}

TEST_CASE("a second sink on the same address or files exits 3 and leaves the first one's alone") {
  JobRun run;
  const auto output = run.dir / "results.jsonl";
  const auto journal = run.dir / "journal";
  auto& sink = run.sink({"--journal", journal.string()});
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += "20\n";  // 4 s for the one worker: the second sinks come meanwhile
  write_file(run.dir / "tasks.txt", lines);
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep"});
  run.worker();
  REQUIRE(eventually([&] { return run.results().size() >= 20; }, 20s));

  const std::string sink_pid = std::to_string(sink.pid());
  SECTION("the same address") {
    ChildProcess second({ZPIPE_SINK, "--bind", run.sink_endpoint, "--output", output.string(), "--journal",
                         journal.string()},
                        run.dir / "second.out", run.dir / "second.err");
    REQUIRE(second.wait_for(10s) == 3);
    CHECK_THAT(read_file(run.dir / "second.err"), Catch::Contains("cannot bind"));
  }
  SECTION("the same output file") {
    ChildProcess second({ZPIPE_SINK, "--bind", "tcp://127.0.0.1:*", "--output", output.string()},
                        run.dir / "second.out", run.dir / "second.err");
    REQUIRE(second.wait_for(10s) == 3);
    CHECK_THAT(read_file(run.dir / "second.err"), Catch::Contains("in use by process " + sink_pid));
  }
  SECTION("the same journal") {
    ChildProcess second({ZPIPE_SINK, "--bind", "tcp://127.0.0.1:*", "--output", (run.dir / "other").string(),
                         "--journal", journal.string()},
                        run.dir / "second.out", run.dir / "second.err");
    REQUIRE(second.wait_for(10s) == 3);
    CHECK_THAT(read_file(run.dir / "second.err"), Catch::Contains("in use by process " + sink_pid));
  }
  REQUIRE(ventilator.wait_for(job_limit) == 0);
  REQUIRE(sink.wait_for(10s) == 0);
  every_task_once(run.results(), 200);
}

TEST_CASE("SIGTERM to the ventilator cancels the job: the sink and the workers are told and exit 4") {
  JobRun run;
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--count", "2000", "--kind", "sleep", "--min-workers", "2"});
  auto& first = run.worker();
  auto& second = run.worker();
  REQUIRE(eventually([&] { return run.results().size() >= 10; }, 20s));
  ventilator.send_signal(SIGTERM);
  CHECK(ventilator.wait_for(10s) == 130);
  INFO("ventilator:\n" << run.log("ventilator") << "sink:\n" << run.log("sink") << "second worker:\n" << run.log("worker2"));
  CHECK(sink.wait_for(10s) == 4);
  CHECK(first.wait_for(10s) == 4);
  CHECK(second.wait_for(10s) == 4);
  CHECK_THAT(run.log("sink"), Catch::Contains("cancelled"));
  CHECK_THAT(run.log("worker"), Catch::Contains("was cancelled"));
  // What was printed is printed once.
  const auto lines = run.results();
  std::set<std::uint64_t> ids;
  for (const auto& line : lines) CHECK(ids.insert(parse_result_line(line).task_id).second);
}

TEST_CASE("a ventilator restarted after its job completed learns so at once and exits 0") {
  JobRun run;
  auto& sink = run.sink();
  // Four tasks of 800 ms, one per worker: all dealt at once, done after the kill.
  write_file(run.dir / "tasks.txt", "800\n800\n800\n800\n");
  const std::vector<std::string> input{"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep",
                                       "--min-workers", "4"};
  auto* ventilator = &run.ventilator(input);
  for (int i = 0; i < 4; ++i) run.worker();
  REQUIRE(eventually([&] { return run.log("ventilator").find("dealing to 4 worker(s)") != std::string::npos; }, 20s));
  ventilator->send_signal(SIGKILL);
  REQUIRE(ventilator->wait_for(5s).has_value());
  // The results arrive with no ventilator to acknowledge them to: the sink
  // has every result and waits to be told the job is over.
  REQUIRE(eventually([&] { return run.results().size() == 4; }, 20s));
  CHECK_FALSE(sink.wait_for(4s).has_value());

  auto resumed = input;
  resumed.push_back("--resume");
  ventilator = &run.ventilator(resumed);
  REQUIRE(ventilator->wait_for(10s) == 0);
  REQUIRE(sink.wait_for(10s) == 0);
  CHECK_THAT(run.log("ventilator2"), Catch::Contains("it holds 4 result(s)") &&
                                         Catch::Contains("job complete: 0 tasks read, 4 acknowledged, 0 dealt again"));
  every_task_once(run.results(), 4);
}

TEST_CASE("a result for an id near the top of a huge job is rejected without the sink allocating for it") {
  JobRun run;
  auto& sink = run.sink();
  const std::uint64_t huge = std::uint64_t{1} << 40;  // a ledger of total/8 bytes would be 128 GiB
  // Task k spins k µs: past the first hundred, under 10,000 results a second.
  // Squares ran at millions a second into results.jsonl, whose every read
  // below then took longer than the last, and a run that hung filled the disk.
  auto& ventilator = run.ventilator({"--count", std::to_string(huge), "--kind", "spin"});
  const std::uint64_t job = job_id_in(run.log("ventilator"));
  run.worker();
  REQUIRE(eventually([&] { return run.results().size() >= 100; }, 20s));
  zmq::context_t context;
  zmq::socket_t intruder = zpipe::open_socket(context, zmq::socket_type::dealer);
  intruder.connect(run.sink_endpoint);
  const zpipe::ResultBatch forged{job, "intruder", {zpipe::Result{huge - 5, true, zpipe::Value{std::int64_t{1}}}}};
  REQUIRE(zpipe::send_frame(intruder, zpipe::encode(forged), false));
  // Leased to nobody, it is refused before the ledger sees it.
  REQUIRE(eventually([&] { return run.log("sink").find("not leased to it") != std::string::npos; }, 10s));
  CHECK_FALSE(sink.wait_for(0ms).has_value());
  ventilator.send_signal(SIGTERM);
  CHECK(sink.wait_for(10s) == 4);
  CHECK_THAT(run.log("sink"), Catch::Contains("results without a lease rejected: 1"));
}
