// Nothing lost, nothing printed twice: workers killed or hung mid-job, tasks
// longer than the redelivery delay, a poison task, the sink and the
// ventilator restarted mid-job, and a worker joining late.
#include <signal.h>

#include <catch2/catch.hpp>
#include <random>
#include <regex>
#include <thread>

#include "support/job_run.hpp"

using namespace zpipe::testing;

namespace {

// The number a summary line reports after `label`, e.g. "duplicates dropped: ".
std::uint64_t reported(const std::string& log, const std::string& label) {
  const std::regex number(label + "(\\d+)");
  std::smatch match;
  REQUIRE(std::regex_search(log, match, number));
  return std::stoull(match[1]);
}

// Spin tasks of 200..1700 µs in a scrambled order: about 9 s of work on
// this two-core machine, time enough for the chaos.
std::string mixed_spin_tasks(int count) {
  std::string lines;
  for (int i = 1; i <= count; ++i) lines += std::to_string(200 + (i * 7919) % 1500) + "\n";
  return lines;
}

}  // namespace

TEST_CASE("workers killed and hung at random during a job: nothing lost, nothing printed twice") {
  JobRun run;
  write_file(run.dir / "tasks.txt", mixed_spin_tasks(20000));
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "spin", "--batch", "8",
                                     "--min-workers", "4", "--worker-timeout", "1000", "--max-attempts", "20"});
  std::vector<ChildProcess*> workers;
  for (int i = 0; i < 4; ++i) workers.push_back(&run.worker());
  REQUIRE(eventually([&] { return run.results().size() > 500; }, 20s));

  // Every 0.3-2 s: kill -9 a random worker and start a new one, or (every
  // other time) stop one for longer than the worker timeout and let it go
  // on: its tasks are dealt again, and what it then finishes is a duplicate.
  std::mt19937 random(20261124);
  int chaos_events = 0;
  for (int round = 0; round < 12 && !sink.wait_for(0ms); ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution(300, 2000)(random)));
    ChildProcess*& victim = workers[std::uniform_int_distribution<std::size_t>(0, workers.size() - 1)(random)];
    if (round % 2 == 1) {
      victim->send_signal(SIGKILL);
      REQUIRE(victim->wait_for(5s).has_value());
      victim = &run.worker();
    } else {
      victim->send_signal(SIGSTOP);
      std::this_thread::sleep_for(1500ms);
      victim->send_signal(SIGCONT);
    }
    ++chaos_events;
  }
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  INFO("chaos events: " << chaos_events);
  REQUIRE(chaos_events >= 2);
  every_task_once(run.results(), 20000);
  const std::string sink_log = run.log("sink");
  CHECK_THAT(sink_log, Catch::Contains("20000 of 20000 tasks, 20000 ok"));
  CHECK(reported(sink_log, "duplicates dropped: ") > 0);
  CHECK(reported(run.log("ventilator"), "tasks read, \\d+ acknowledged, ") > 0);  // "N dealt again"
}

TEST_CASE("tasks longer than the redelivery delay complete once, never dealt again while their worker lives") {
  JobRun run;
  auto& sink = run.sink();
  write_file(run.dir / "tasks.txt", "3000\n3000\n3000\n3000\n");
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep",
                                     "--worker-timeout", "1000", "--min-workers", "2"});
  run.worker();
  run.worker();
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  every_task_once(run.results(), 4);
  CHECK(reported(run.log("sink"), "duplicates dropped: ") == 0);
  CHECK_THAT(run.log("ventilator"), Catch::Contains("0 dealt again") && Catch::Contains("(0 lost)"));
}

TEST_CASE("a poison task fails after the attempt cap and the rest of the job completes") {
  JobRun run;
  std::string lines;
  for (int i = 1; i <= 40; ++i) lines += std::to_string(i) + "\n";
  write_file(run.dir / "tasks.txt", lines);
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "poison",
                                     "--worker-timeout", "1000", "--max-attempts", "3", "--min-workers", "2"});
  std::vector<ChildProcess*> workers{&run.worker({}, ZPIPE_TEST_WORKER), &run.worker({}, ZPIPE_TEST_WORKER)};
  // Keep two workers up: start a new one for each that the poison kills.
  REQUIRE(eventually([&] {
    for (auto*& worker : workers)
      if (worker->wait_for(0ms).has_value() && run.workers_started() < 10) worker = &run.worker({}, ZPIPE_TEST_WORKER);
    return sink.wait_for(0ms).has_value();
  }, job_limit));
  REQUIRE(sink.wait_for(0ms) == 1);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 40);
  for (const auto& [id, result] : by_id) {
    INFO("task " << id);
    if (id == 7) {
      CHECK(result.status == "error");
      CHECK_THAT(result.error, Catch::Contains("lost with 3 workers") && Catch::Contains("ran it alone"));
    } else {
      CHECK(result.result == "\"" + std::to_string(id) + "\"");
    }
  }
}

TEST_CASE("a sink restarted with its journal mid-job: every task printed exactly once") {
  JobRun run;
  const std::string journal = (run.dir / "job.journal").string();
  auto* sink = &run.sink({"--journal", journal});
  auto& ventilator = run.ventilator({"--count", "3000", "--kind", "spin", "--batch", "4", "--min-workers", "2"});
  run.worker();
  run.worker();
  REQUIRE(eventually([&] { return run.results().size() > 300; }, 20s));
  sink->send_signal(SIGKILL);
  REQUIRE(sink->wait_for(5s).has_value());
  const auto printed_before = run.results().size();
  sink = &run.sink({"--journal", journal});
  REQUIRE(sink->wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  INFO("printed before the restart: " << printed_before);
  const auto by_id = every_task_once(run.results(), 3000);
  CHECK_THAT(run.log("sink2"), Catch::Contains("taking up job") && Catch::Contains("3000 of 3000 tasks"));
}

TEST_CASE("a ventilator restarted with --resume mid-job deals only what the sink lacks") {
  JobRun run;
  constexpr std::uint64_t total = 3000;
  // At most this many tasks are read and not acknowledged by the sink at any
  // time, so at most this many are in workers' hands when the first
  // ventilator is killed: the only tasks both ventilators can deal.
  constexpr std::uint64_t in_flight_at_most = 64;
  std::string lines;
  for (std::uint64_t i = 1; i <= total; ++i) lines += "1000\n";  // 1 ms each: about 1.5 s for two workers
  write_file(run.dir / "tasks.txt", lines);
  auto& sink = run.sink();
  // A worker timeout far beyond the test's length: no worker is taken for
  // gone, so neither ventilator deals a task twice of its own accord.
  const std::vector<std::string> job{"--input", (run.dir / "tasks.txt").string(), "--kind", "spin",
                                     "--min-workers", "2", "--max-in-flight", std::to_string(in_flight_at_most),
                                     "--worker-timeout", "600000"};
  auto* ventilator = &run.ventilator(job);
  run.worker({"--name", "a"});
  run.worker({"--name", "b"});
  REQUIRE(eventually([&] { return run.results().size() > 300; }, 20s));
  ventilator->send_signal(SIGKILL);
  REQUIRE(ventilator->wait_for(5s).has_value());

  SECTION("with the same input, the job completes and nothing the sink had is dealt again") {
    auto resumed = job;
    resumed.push_back("--resume");
    ventilator = &run.ventilator(resumed);
    REQUIRE(ventilator->wait_for(job_limit) == 0);
    REQUIRE(sink.wait_for(10s) == 0);
    every_task_once(run.results(), total);
    const std::string resumed_log = run.log("ventilator2");
    const std::string sink_log = run.log("sink");
    INFO("restarted ventilator:\n" << resumed_log << "sink:\n" << sink_log);
    // The sink had more than 300 results when the first ventilator died,
    // and says so to the second.
    const std::uint64_t held = reported(resumed_log, "resuming the sink's job \\d+: it holds ");
    CHECK(held > 300);
    CHECK(held <= total);
    // Every task acknowledged exactly once, none dealt again by the second.
    CHECK_THAT(resumed_log, Catch::Contains("job complete: " + std::to_string(total) + " tasks read, " +
                                            std::to_string(total) + " acknowledged, 0 dealt again"));
    // A duplicate is a task both ventilators dealt: only one the first had
    // in flight can be. Had the second dealt what the sink held, there would
    // be more than 300.
    CHECK(reported(sink_log, "duplicates dropped: ") <= in_flight_at_most);
    CHECK_THAT(sink_log, Catch::Contains(std::to_string(total) + " of " + std::to_string(total) + " tasks, " +
                                         std::to_string(total) + " ok") &&
                             Catch::Contains("frames rejected: 0"));
  }
  SECTION("with a changed input, it is refused with the reason") {
    write_file(run.dir / "tasks.txt", lines + "1\n");
    auto resumed = job;
    resumed.push_back("--resume");
    ventilator = &run.ventilator(resumed);
    REQUIRE(ventilator->wait_for(20s) == 3);
    CHECK_THAT(run.log("ventilator2"), Catch::Contains("the input changed"));
  }
}

TEST_CASE("a worker that joins mid-job gets a fair share at once") {
  JobRun run;
  std::string lines;
  for (int i = 0; i < 100; ++i) lines += "20\n";  // 100 tasks of 20 ms: 2 s for one worker
  write_file(run.dir / "tasks.txt", lines);
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep"});
  run.worker({"--name", "early"});
  REQUIRE(eventually([&] { return run.results().size() >= 10; }, 20s));
  run.worker({"--name", "late"});
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 100);
  std::uint64_t late = 0;
  for (const auto& [id, result] : by_id) late += result.worker == "late";
  CHECK(late >= 30);  // a fair share of the 90 left would be 45
}
