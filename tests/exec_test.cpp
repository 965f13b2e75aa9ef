// Shell-command tasks: they run, report non-zero exits and time-outs with
// their reasons. (That a worker without --allow-exec is dealt none is in
// kinds_test.cpp.)
#include <catch2/catch.hpp>

#include "support/job_run.hpp"

using namespace zpipe::testing;

TEST_CASE("exec tasks run, and failures and time-outs come back with their reason") {
  JobRun run;
  write_file(run.dir / "commands.txt",
             "echo hello\n"
             "printf '%s' \"$((6 * 7))\"\n"
             "echo oops >&2; exit 3\n"
             "sleep 30\n"
             "yes | head -n 3\n");
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--exec-timeout", "1", "--threads", "2"});
  REQUIRE(sink.wait_for(job_limit) == 1);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 5);
  CHECK(by_id.at(1).result == R"("hello\n")");
  CHECK(by_id.at(2).result == R"("42")");
  CHECK_THAT(by_id.at(3).error, Catch::Contains("exit status 3") && Catch::Contains("oops"));
  CHECK_THAT(by_id.at(4).error, Catch::Contains("timed out after 1000 ms"));
  CHECK(by_id.at(5).result == R"("y\ny\ny\n")");  // SIGPIPE is back to default in the command
}

TEST_CASE("a worker refuses --allow-exec without CURVE keys unless forced") {
  ScratchDir dir;
  ChildProcess worker({ZPIPE_WORKER, "--allow-exec"}, dir / "out", dir / "err");
  REQUIRE(worker.wait_for(10s) == 2);
  CHECK_THAT(read_file(dir / "err"), Catch::Contains("--allow-exec-without-curve"));
}
