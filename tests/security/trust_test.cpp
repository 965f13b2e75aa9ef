// What an admitted key may do, through the real binaries with CURVE on
// loopback: a revoked key loses its tasks and its voice at once; a worker
// cannot forge results, take the ventilator's role, hoard tasks for ever or
// grow the servers' memory; the allow-list reader cannot be blocked; and
// half-open connections do not lock genuine workers out. Each test checks
// that the honest job's output is exactly right: every id once, the right
// values, only from allowed keys.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "security/key_ring.hpp"
#include "security/rogue_worker.hpp"
#include "support/job_run.hpp"

using namespace zpipe::testing;
using Clock = std::chrono::steady_clock;

namespace {

// Resident and peak resident memory of a process, in KiB.
std::uint64_t status_kib(pid_t pid, const std::string& key) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind(key + ":", 0) == 0) return std::stoull(line.substr(key.size() + 1));
  return 0;
}

std::size_t open_descriptors(pid_t pid) {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++count;
  return count;
}

std::string sleep_tasks(int count) {
  std::string lines;
  for (int i = 0; i < count; ++i) lines += "10\n";
  return lines;
}

// Every id once; each a `sleep` task of 10 ms that answers 10; only `allowed` keys.
void check_output(const JobRun& run, std::uint64_t total, const std::vector<std::string>& allowed) {
  for (const auto& [id, result] : every_task_once(run.results(), total)) {
    INFO("task " << id << " by " << result.worker);
    CHECK(result.status == "ok");
    CHECK(result.result == "10");
    CHECK(std::find(allowed.begin(), allowed.end(), result.worker) != allowed.end());
  }
}

}  // namespace

TEST_CASE("a key removed while its worker is connected gets no task 2 s later and its results are refused") {
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good", "rogue"});
  write_file(run.dir / "tasks.txt", sleep_tasks(600));  // 6 s for one worker
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind",
                                                             "sleep", "--batch", "2"} + keys.ventilator());
  run.worker(keys.worker("good") + std::vector<std::string>{"--threads", "1"});
  RogueWorker rogue(keys.pair("rogue"), run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint,
                    keys.z85("sink"));
  rogue.to_ventilator(zpipe::Hello{"rogue", 2});
  // It works honestly and returns its credits, so only the revocation can
  // stop tasks coming; its key file goes when the first frame arrives.
  Clock::time_point removed{}, last_task{};
  zpipe::ResultBatch first_results;
  rogue.serve(4s, [&](const zpipe::TaskBatch& tasks) {
    last_task = Clock::now();
    if (removed == Clock::time_point{}) {
      fs::remove(keys.dir / "workers" / "rogue.pub");
      removed = last_task;
      first_results = RogueWorker::honest(tasks, "rogue");
    }
    std::this_thread::sleep_for(20ms);  // the work: 10 ms per task, as the job asks
    rogue.to_sink(RogueWorker::honest(tasks, "rogue"));
    rogue.to_ventilator(zpipe::Credit{1});
  });
  REQUIRE(removed != Clock::time_point{});
  const auto revoked_after = std::chrono::duration_cast<std::chrono::milliseconds>(last_task - removed);
  INFO("the last task frame reached the revoked worker " << revoked_after.count() << " ms after its key was removed");
  CHECK(revoked_after <= 2s);
  REQUIRE(eventually([&] { return run.log("sink").find("lost its worker role") != std::string::npos; }, 5s));
  rogue.to_sink(first_results);  // refused now, counted and logged
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  CHECK_THAT(run.log("sink"), Catch::Contains("key 'rogue' lost its worker role") &&
                                  Catch::Contains("from key 'rogue', whose role (no role) may not send it"));
  CHECK_THAT(run.log("ventilator"), Catch::Contains("worker rogue lost its worker role in the allow-list: dealing its"));
  check_output(run, 600, {"good", "rogue"});
}
