// The pipeline through the real binaries on loopback: jobs complete with every
// task printed once and right, in any start order, with failing tasks, bad
// command lines and garbage on the sockets.
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <regex>
#include <set>

#include "support/job_run.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/sockets.hpp"

using namespace std::chrono_literals;
using namespace zpipe::testing;


TEST_CASE("one worker: every task is printed once with its square") {
  JobRun run;
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--count", "2000", "--batch", "7"});
  run.worker();
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  check_squares(every_task_once(run.results(), 2000));
  CHECK_THAT(run.log("sink"), Catch::Contains("2000 of 2000 tasks, 2000 ok, 0 failed"));
}

TEST_CASE("three workers share a job and all exit when it ends") {
  JobRun run;
  auto& sink = run.sink();
  // spin: task i burns i µs, about 1.5 s of work for each of three workers.
  auto& ventilator = run.ventilator({"--count", "3000", "--batch", "4", "--min-workers", "3", "--kind", "spin"});
  std::vector<ChildProcess*> workers;
  for (int i = 0; i < 3; ++i) workers.push_back(&run.worker({"--name", "w" + std::to_string(i)}));
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 3000);
  std::map<std::string, int> per_worker;
  for (const auto& [id, result] : by_id) ++per_worker[result.worker];
  REQUIRE(per_worker.size() == 3);
  for (const auto& [name, tasks] : per_worker) {
    INFO(name);
    CHECK(tasks > 300);
  }
  INFO("ventilator:\n" << run.log("ventilator") << "workers:\n" << run.log("worker") << run.log("worker2")
                        << run.log("worker3"));
  for (auto* worker : workers) REQUIRE(worker->wait_for(10s) == 0);
}

TEST_CASE("acknowledgements of many scattered ids fit in frames the ventilator takes") {
  // Batch 1 dealt in turn to two workers: each results frame holds every
  // other id, so each result is an ack range of its own, tens of thousands
  // of them arriving at the sink in one burst.
  JobRun run;
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--count", "400000", "--batch", "1", "--min-workers", "2"});
  run.worker({"--name", "w1"});
  run.worker({"--name", "w2"});
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  CHECK_THAT(run.log("ventilator"), Catch::Contains("rejected 0 worker and 0 sink message(s)"));
  every_task_once(run.results(), 400000);
}

TEST_CASE("the three programs can start in any order") {
  auto order = GENERATE(std::string("SWV"), std::string("SVW"), std::string("WSV"), std::string("WVS"),
                        std::string("VSW"), std::string("VWS"));
  INFO("start order " << order);
  // Endpoints known before anything binds, so that workers can come first.
  JobRun run;
  run.use_fixed_endpoints();
  ChildProcess* sink = nullptr;
  ChildProcess* ventilator = nullptr;
  // Each is up before the next starts: the sink and the ventilator once
  // they have logged where they bound, the worker once it says it is ready.
  for (const char role : order) {
    if (role == 'S') sink = &run.sink();
    if (role == 'V') ventilator = &run.ventilator({"--count", "500", "--batch", "3"});
    if (role == 'W') {
      run.worker();
      INFO(run.log("worker"));
      REQUIRE(eventually([&] { return run.log("worker").find(" ready: ") != std::string::npos; }, 10s));
    }
  }
  REQUIRE(sink->wait_for(job_limit) == 0);
  REQUIRE(ventilator->wait_for(10s) == 0);
  check_squares(every_task_once(run.results(), 500));
}

TEST_CASE("failing tasks are reported with their reason and the sink exits 1") {
  // (A kind no worker runs is never dealt since kinds are negotiated: kinds_test.cpp.)
  auto [kind, reason] = GENERATE(table<std::string, std::string>({
      {"fail", "failed as asked"},
  }));
  JobRun run;
  auto& sink = run.sink();
  run.ventilator({"--count", "50", "--kind", kind});
  auto& worker = run.worker();
  REQUIRE(sink.wait_for(job_limit) == 1);
  for (const auto& [id, result] : every_task_once(run.results(), 50)) {
    REQUIRE(result.status == "error");
    REQUIRE_THAT(result.error, Catch::Contains(reason));
  }
  CHECK_THAT(run.log("sink"), Catch::Contains("0 ok, 50 failed"));
  REQUIRE(worker.wait_for(10s) == 0);  // a failing task does not stop the worker
}

TEST_CASE("an input file is a job of one task per line") {
  JobRun run;
  zpipe::testing::write_file(run.dir / "tasks.txt", "3\n-4\nnot a number\n\n12\r\n18446744073709551615\n");
  auto& sink = run.sink();
  run.ventilator({"--input", (run.dir / "tasks.txt").string()});
  run.worker();
  REQUIRE(sink.wait_for(job_limit) == 1);
  const auto by_id = every_task_once(run.results(), 6);
  CHECK(by_id.at(1).result == "9");
  CHECK(by_id.at(2).result == "16");
  CHECK_THAT(by_id.at(3).error, Catch::Contains("needs an integer payload"));
  CHECK(by_id.at(4).status == "error");
  CHECK(by_id.at(5).result == "144");
  CHECK_THAT(by_id.at(6).error, Catch::Contains("payload 18446744073709551615 is out of range"));
}

TEST_CASE("a line too long to be a task fails alone and the rest of the job completes") {
  JobRun run;
  zpipe::testing::write_file(run.dir / "tasks.txt", "2\n" + std::string(1024 * 1024 + 1, '7') + "\n5\n");
  auto& sink = run.sink();
  run.ventilator({"--input", (run.dir / "tasks.txt").string()});
  run.worker();
  REQUIRE(sink.wait_for(job_limit) == 1);
  const auto by_id = every_task_once(run.results(), 3);
  CHECK(by_id.at(1).result == "4");
  CHECK_THAT(by_id.at(2).error, Catch::Contains("line 2") && Catch::Contains("longer than 1048576 bytes"));
  CHECK(by_id.at(3).result == "25");
}

TEST_CASE("a custom worker program runs its own kind beside the built-in ones") {
  JobRun run;
  zpipe::testing::write_file(run.dir / "words.txt", "stressed\nlevel\nzpipe\n");
  auto& sink = run.sink();
  run.ventilator({"--input", (run.dir / "words.txt").string(), "--kind", "reverse"});
  run.worker({}, ZPIPE_EXAMPLE_WORKER);
  REQUIRE(sink.wait_for(job_limit) == 0);
  const auto by_id = every_task_once(run.results(), 3);
  CHECK(by_id.at(1).result == "\"desserts\"");
  CHECK(by_id.at(2).result == "\"level\"");
  CHECK(by_id.at(3).result == "\"epipz\"");
}

TEST_CASE("bad command lines name the option and exit 2") {
  auto [program, args, message] = GENERATE(table<std::string, std::vector<std::string>, std::string>({
      {ZPIPE_VENTILATOR, {}, "exactly one of --count N or --input FILE"},
      {ZPIPE_VENTILATOR, {"--count", "10", "--input", "x"}, "exactly one of --count N or --input FILE"},
      {ZPIPE_VENTILATOR, {"--count", "ten"}, "count"},
      {ZPIPE_VENTILATOR, {"--count", "10", "--batch", "0"}, "--batch"},
      {ZPIPE_VENTILATOR, {"--count", "10", "--batch", "65537"}, "--batch"},
      {ZPIPE_VENTILATOR, {"--count", "10", "--bind", "localhost:5"}, "--bind"},
      {ZPIPE_VENTILATOR, {"--count", "10", "--frobnicate"}, "frobnicate"},
      {ZPIPE_VENTILATOR, {"--count", "10", "--max-in-flight", "16777217"}, "--max-in-flight"},
      {ZPIPE_SINK, {"--format", "xml"}, "--format"},
      {ZPIPE_SINK, {"--progress", "sometimes"}, "--progress"},
      {ZPIPE_SINK, {"stray"}, "stray"},
      {ZPIPE_WORKER, {"--threads", "0"}, "--threads"},
      {ZPIPE_WORKER, {"--bundle", "0"}, "--bundle"},
      {ZPIPE_WORKER, {"--sink", "nowhere"}, "--sink"},
  }));
  zpipe::testing::ScratchDir dir;
  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess process(argv, dir / "out", dir / "err");
  REQUIRE(process.wait_for(10s) == 2);
  const std::string error = read_file(dir / "err");
  CHECK_THAT(error, Catch::Contains(message));
  CHECK(std::count(error.begin(), error.end(), '\n') == 1);
}

TEST_CASE("a missing input file is a runtime error, exit 3") {
  zpipe::testing::ScratchDir dir;
  ChildProcess process({ZPIPE_VENTILATOR, "--input", (dir / "absent.txt").string()}, dir / "out", dir / "err");
  REQUIRE(process.wait_for(10s) == 3);
  CHECK_THAT(read_file(dir / "err"), Catch::Contains("cannot open --input") && Catch::Contains("absent.txt"));
}

TEST_CASE("SIGINT stops the sink with a partial summary") {
  JobRun run;
  auto& sink = run.sink();
  run.ventilator({"--count", "100", "--kind", "sleep", "--batch", "1"});  // 100 ms each
  run.worker();
  REQUIRE(eventually([&] { return run.results().size() >= 2; }, 20s));
  sink.send_signal(SIGINT);
  REQUIRE(sink.wait_for(10s) == 130);
  CHECK_THAT(run.log("sink"), Catch::Contains("stopped by signal") && Catch::Contains("of 100 tasks"));
}

TEST_CASE("garbage frames sent to the sink during a job are counted and dropped") {
  JobRun run;
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--count", "3000", "--kind", "spin", "--batch", "10"});
  run.worker();
  REQUIRE(eventually([&] { return !run.results().empty(); }, 20s));

  zmq::context_t context;
  zmq::socket_t intruder = zpipe::open_socket(context, zmq::socket_type::dealer);
  intruder.connect(run.sink_endpoint);
  const std::vector<std::string> garbage{
      "",                                    // empty
      "\xdd\xff\xff\xff\xff",                // array of 4G elements
      "hello, sink",                         // not msgpack
      zpipe::encode(zpipe::Credit{3}),       // a message the sink never takes
      zpipe::encode(zpipe::ResultBatch{42, "rogue", {{1, true, zpipe::Value{std::int64_t{-1}}}}}),  // other job
  };
  for (int round = 0; round < 20; ++round)
    for (const auto& frame : garbage) zpipe::send_frame(intruder, frame);

  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 3000);
  for (const auto& [id, result] : by_id) REQUIRE(result.worker != "rogue");
  CHECK_THAT(run.log("sink"), Catch::Contains("frames rejected: 100"));
}

TEST_CASE("garbage frames sent to a worker are counted and dropped, and it keeps working") {
  // The test plays the ventilator: it binds where the worker connects, waits
  // for its hello, and sends garbage before and between real task frames.
  zpipe::testing::ScratchDir dir;
  zmq::context_t context;
  zmq::socket_t ventilator = zpipe::open_socket(context, zmq::socket_type::router);
  const std::string ventilator_endpoint = zpipe::bind_endpoint(ventilator, "tcp://127.0.0.1:*", "bind");
  zmq::socket_t sink = zpipe::open_socket(context, zmq::socket_type::router);
  const std::string sink_endpoint = zpipe::bind_endpoint(sink, "tcp://127.0.0.1:*", "bind");
  ChildProcess worker({ZPIPE_WORKER, "--ventilator", ventilator_endpoint, "--sink", sink_endpoint, "--once"},
                      dir / "out", dir / "err");

  std::vector<zmq::message_t> parts;
  std::string worker_id;
  REQUIRE(eventually([&] {
    if (zpipe::receive_parts(ventilator, parts) == 2 &&
        std::holds_alternative<zpipe::Hello>(zpipe::decode(zpipe::view(parts[1]))))
      worker_id = std::string(zpipe::view(parts[0]));
    return !worker_id.empty();
  }, 10s));

  const std::vector<std::string> garbage{"\x96\x01\x03", "\xdd\xff\xff\xff\xff", "junk",
                                         zpipe::encode(zpipe::Ack{1, {{1, 2}}})};
  std::uint64_t next_id = 1;
  for (int round = 0; round < 5; ++round) {
    for (const auto& frame : garbage) REQUIRE(zpipe::send_to(ventilator, worker_id, frame));
    zpipe::TaskBatch batch{7, "square", {}};
    for (int i = 0; i < 4; ++i, ++next_id) batch.tasks.push_back({next_id, zpipe::Value{std::int64_t(next_id)}});
    REQUIRE(zpipe::send_to(ventilator, worker_id, zpipe::encode(zpipe::Message{batch})));
  }

  std::set<std::uint64_t> squared;
  REQUIRE(eventually([&] {
    while (zpipe::receive_parts(sink, parts) == 2) {
      const auto message = zpipe::decode(zpipe::view(parts[1]));
      for (const auto& result : std::get<zpipe::ResultBatch>(message).results) {
        REQUIRE(result.ok);
        REQUIRE(std::get<std::int64_t>(result.value) == std::int64_t(result.id * result.id));
        squared.insert(result.id);
      }
    }
    return squared.size() == 20;
  }, 10s));
  REQUIRE(zpipe::send_to(ventilator, worker_id, zpipe::encode(zpipe::JobEnd{7, true})));
  REQUIRE(worker.wait_for(10s) == 0);
  const std::string log = read_file(dir / "err");
  CHECK_THAT(log, Catch::Contains("frames rejected: 20"));
}
