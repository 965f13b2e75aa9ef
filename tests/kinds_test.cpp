// Kinds negotiation through the real programs (issue 9): a worker is dealt
// only the kinds its hello lists, so a custom worker beside a stock one runs
// every task of its kind, and a job no connected worker can run says so and
// gives up after --kind-timeout.
#include <catch2/catch.hpp>

#include "support/job_run.hpp"

using namespace zpipe::testing;

TEST_CASE("a mixed pool runs every task of a custom kind on the worker that has it") {
  JobRun run;
  write_file(run.dir / "words.txt", "stressed\nlevel\nzpipe\nabc\n");
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--input", (run.dir / "words.txt").string(), "--kind", "reverse"});
  // The stock worker is known to the ventilator before the custom one
  // starts: without negotiation it alone was dealt the whole job, and failed
  // it ("unknown task kind 'reverse'").
  run.worker({"--name", "stock"});
  REQUIRE(eventually([&] { return run.log("ventilator").find("worker stock joined") != std::string::npos; }, 10s));
  CHECK_THAT(run.log("ventilator"), Catch::Contains("does not run kind 'reverse'"));
  run.worker({"--name", "custom"}, ZPIPE_EXAMPLE_WORKER);
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 4);
  CHECK(by_id.at(1).result == "\"desserts\"");
  CHECK(by_id.at(2).result == "\"level\"");
  CHECK(by_id.at(3).result == "\"epipz\"");
  CHECK(by_id.at(4).result == "\"cba\"");
  for (const auto& [id, line] : by_id) CHECK(line.worker == "custom");
}

TEST_CASE("a stock worker still runs the built-in kinds beside a custom worker") {
  JobRun run;
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--count", "200", "--kind", "square", "--min-workers", "2"});
  run.worker({"--name", "stock"});
  run.worker({"--name", "custom"}, ZPIPE_EXAMPLE_WORKER);
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  check_squares(every_task_once(run.results(), 200));
}

TEST_CASE("a job whose kind no connected worker runs says so, then is cancelled after --kind-timeout (exit 3)") {
  JobRun run;
  write_file(run.dir / "words.txt", "a\nb\n");
  auto& sink = run.sink();
  auto& ventilator =
      run.ventilator({"--input", (run.dir / "words.txt").string(), "--kind", "nope", "--kind-timeout", "1"});
  run.worker({"--name", "stock"});
  REQUIRE(ventilator.wait_for(job_limit) == 3);
  CHECK_THAT(run.log("ventilator"), Catch::Contains("no worker runs kind 'nope'; 1 connected run: fail, primes, sleep, spin, square") &&
                                        Catch::Contains("--kind-timeout"));
  REQUIRE(sink.wait_for(10s) == 4);  // told the job is cancelled
  CHECK(run.results().empty());
}

TEST_CASE("exec tasks wait for a worker started with --allow-exec, and are never run by another") {
  JobRun run;
  write_file(run.dir / "commands.txt", "touch " + (run.dir / "should-not-exist").string() + "\n");
  auto& sink = run.sink();
  auto& ventilator =
      run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec", "--kind-timeout", "1"});
  run.worker();
  REQUIRE(ventilator.wait_for(job_limit) == 3);
  CHECK_THAT(run.log("ventilator"), Catch::Contains("no worker runs kind 'exec'") && Catch::Contains("--allow-exec"));
  REQUIRE(sink.wait_for(10s) == 4);
  CHECK_FALSE(std::filesystem::exists(run.dir / "should-not-exist"));
}
