// What an admitted key may do, through the real binaries with CURVE on
// loopback: a revoked key loses its tasks and its voice at once; a worker
// cannot forge results, take the ventilator's role, hoard tasks for ever,
// print a late result twice or grow the servers' memory; the allow-list
// reader cannot be blocked; half-open connections do not lock genuine
// workers out; and a protocol version 1 peer is told to upgrade. Each test checks
// that the honest job's output is exactly right: every id once, the right
// values, only from allowed keys.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "security/key_ring.hpp"
#include "security/raw_tcp.hpp"
#include "security/rogue_worker.hpp"
#include "support/job_run.hpp"

using namespace zpipe::testing;
using Clock = std::chrono::steady_clock;

namespace {

#ifdef ZPIPE_SANITIZED
constexpr std::uint64_t growth_kib_at_most = 150 * 1024;  // AddressSanitizer keeps freed memory a while
#else
constexpr std::uint64_t growth_kib_at_most = 10 * 1024;
#endif

// A line of /proc/PID/status in KiB (VmRSS, VmHWM).
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

// How many times `what` occurs in `text`.
std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++count;
  return count;
}

// The sum of the numbers that `pattern`'s first group matches in `text`.
std::uint64_t sum_of_counts(const std::string& text, const std::string& pattern) {
  const std::regex shape(pattern);
  std::uint64_t sum = 0;
  for (auto match = std::sregex_iterator(text.begin(), text.end(), shape); match != std::sregex_iterator(); ++match)
    sum += std::stoull((*match)[1]);
  return sum;
}

// Lowers this process's soft descriptor limit while it lives, so that the
// programs started meanwhile begin with it; then puts it back.
class SoftDescriptorLimit {
 public:
  explicit SoftDescriptorLimit(rlim_t soft) {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  }
  ~SoftDescriptorLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  SoftDescriptorLimit(const SoftDescriptorLimit&) = delete;
  SoftDescriptorLimit& operator=(const SoftDescriptorLimit&) = delete;

 private:
  rlimit saved_{};
};

// A process's "Max open files" from /proc/PID/limits: {soft, hard}.
std::pair<std::uint64_t, std::uint64_t> descriptor_limits(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(limits, line);)
    if (line.rfind("Max open files", 0) == 0) {
      std::istringstream fields(line.substr(std::string("Max open files").size()));
      std::string soft, hard;
      fields >> soft >> hard;
      const auto number = [](const std::string& text) {
        return text == "unlimited" ? ~std::uint64_t{0} : std::stoull(text);
      };
      return {number(soft), number(hard)};
    }
  return {0, 0};
}

// Opens `count` connections to `port` that never send a byte, no faster
// than the server `pid` accepts them: a SYN that finds the server's accept
// queue (libzmq's backlog is 100) full is dropped and retried only after a
// second, and 1000 connections would then take longer than the server's
// 5 s handshake timeout, which would close the first before the last opened.
std::vector<int> hold_half_open(int port, pid_t pid, std::size_t count) {
  constexpr std::size_t unaccepted_at_most = 32;
  const std::size_t before = open_descriptors(pid);
  std::vector<int> held;
  while (held.size() < count) {
    INFO(held.size() << " connection(s) open to port " << port);
    REQUIRE(eventually([&] { return open_descriptors(pid) + unaccepted_at_most >= before + held.size(); }, 5s));
    for (std::size_t i = 0; i < unaccepted_at_most && held.size() < count; ++i)
      held.push_back(connect_loopback(port));
  }
  std::size_t now = 0;
  const bool took_every_one = eventually([&] { return (now = open_descriptors(pid)) >= before + count; }, 5s);
  INFO("the server had " << before << " descriptors open before, " << now << " after");
  REQUIRE(took_every_one);
  return held;
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
  write_file(run.dir / "tasks.txt", sleep_tasks(300));  // 3 s for one worker
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind",
                                                             "sleep", "--batch", "2"} + keys.ventilator());
  // The rogue is the only worker until it is revoked, so nobody else can
  // have answered the tasks it withholds: a result of it that the sink
  // took would be in the output under its name.
  RogueWorker rogue(keys.pair("rogue"), run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint,
                    keys.z85("sink"));
  rogue.to_ventilator(zpipe::Hello{"rogue", 2});
  // Its first 5 frames it answers honestly; its key file goes when the 6th
  // arrives. From then on it withholds every result but keeps asking for
  // tasks, until 2 s after the removal and both servers' saying so.
  constexpr int answered_before = 5;
  int frames_answered = 0;
  std::set<zpipe::TaskId> answered;
  std::vector<zpipe::TaskBatch> withheld;
  Clock::time_point removed{}, last_task{};
  rogue.serve(15s, [&](const zpipe::TaskBatch& tasks) {
    last_task = Clock::now();
    // The work, 10 ms per task as the job asks, so that tasks keep coming
    // at a worker's pace and only the revocation can stop them.
    std::this_thread::sleep_for(20ms);
    if (removed == Clock::time_point{} && frames_answered++ < answered_before) {
      rogue.to_sink(RogueWorker::honest(tasks, "rogue"));
      for (const auto& task : tasks.tasks) answered.insert(task.id);
    } else {
      if (removed == Clock::time_point{}) {
        fs::remove(keys.dir / "workers" / "rogue.pub");
        removed = last_task;
      }
      withheld.push_back(tasks);
    }
    rogue.to_ventilator(zpipe::Credit{1});
  }, [&] {
    return removed != Clock::time_point{} && Clock::now() >= removed + 2s &&
           run.log("ventilator").find("key 'rogue' lost its worker role") != std::string::npos &&
           run.log("sink").find("key 'rogue' lost its worker role") != std::string::npos;
  });
  REQUIRE(removed != Clock::time_point{});
  REQUIRE(Clock::now() >= removed + 2s);
  REQUIRE_FALSE(withheld.empty());
  const auto revoked_after = std::chrono::duration_cast<std::chrono::milliseconds>(last_task - removed);
  INFO("the last task frame reached the revoked worker " << revoked_after.count() << " ms after its key was removed");
  CHECK(revoked_after <= 2s);
  // Past the grace: every withheld result, under its own valid leases. The
  // sink either refuses them or prints them (then under the rogue's name).
  std::set<zpipe::TaskId> late;
  for (const auto& tasks : withheld) {
    rogue.to_sink(RogueWorker::honest(tasks, "rogue"));
    for (const auto& task : tasks.tasks) late.insert(task.id);
  }
  REQUIRE(eventually([&] {
    if (run.log("sink").find("results from key 'rogue', whose role (no role) may not send it") != std::string::npos)
      return true;
    for (const auto& line : run.results())
      if (late.count(parse_result_line(line).task_id) > 0) return true;
    return false;
  }, 5s));
  run.worker(keys.worker("good") + std::vector<std::string>{"--threads", "1"});
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  check_output(run, 300, {"good", "rogue"});
  std::size_t accepted_after_removal = 0, by_rogue = 0;
  for (const auto& [id, result] : every_task_once(run.results(), 300)) {
    if (result.worker != "rogue") continue;
    ++by_rogue;
    accepted_after_removal += late.count(id);
  }
  INFO(late.size() << " result(s) sent 2 s or more after the removal; " << answered.size() << " before it");
  CHECK(accepted_after_removal == 0);
  CHECK(by_rogue == answered.size());  // what it answered while allowed, and nothing else
  CHECK_THAT(run.log("sink"), Catch::Contains("refused " + std::to_string(withheld.size()) + " message(s)"));
  // Logged once by each server, with what it does about it.
  CHECK(occurrences(run.log("sink"), "lost its worker role") == 1);
  CHECK(occurrences(run.log("ventilator"), "lost its worker role") == 1);
  CHECK_THAT(run.log("sink"), Catch::Contains("key 'rogue' lost its worker role in the allow-list: refusing what it "
                                              "sends on its open connection"));
  CHECK_THAT(run.log("ventilator"), Catch::Contains("key 'rogue' lost its worker role in the allow-list: refusing what "
                                                    "it sends on its open connection; dealing its"));
}

TEST_CASE("a slow worker's result for a task dealt again after --task-timeout is a counted duplicate, not a second line") {
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good", "slow"});
  write_file(run.dir / "tasks.txt", sleep_tasks(400));  // 4 s for one worker: it outlasts the late results
  auto& sink = run.sink(keys.sink());
  // The cap keeps the honest worker's own tasks well inside the timeout.
  auto& ventilator = run.ventilator(std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind",
                                                             "sleep", "--batch", "8", "--task-timeout", "1s",
                                                             "--max-held-per-worker", "16"} + keys.ventilator());
  RogueWorker slow(keys.pair("slow"), run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint,
                   keys.z85("sink"));
  slow.to_ventilator(zpipe::Hello{"slow", 1});  // one frame, and it never hands a credit back
  std::vector<zpipe::TaskBatch> held;
  std::set<zpipe::TaskId> held_ids;
  const auto keep = [&](const zpipe::TaskBatch& tasks) {
    held.push_back(tasks);
    for (const auto& task : tasks.tasks) held_ids.insert(task.id);
  };
  // It takes tasks before anyone else is there, and sits on them.
  slow.serve(10s, keep, [&] { return !held.empty(); });
  REQUIRE_FALSE(held.empty());
  run.worker(keys.worker("good") + std::vector<std::string>{"--threads", "1"});
  // Past --task-timeout they go to the honest worker, which prints them.
  const auto done_by_others = [&] {
    std::size_t done = 0;
    for (const auto& line : run.results()) done += held_ids.count(parse_result_line(line).task_id);
    return done == held_ids.size();
  };
  slow.serve(15s, keep, done_by_others);
  REQUIRE(done_by_others());
  // Then the slow worker delivers: right values, under its own valid leases.
  std::size_t late = 0;
  for (const auto& tasks : held) {
    slow.to_sink(RogueWorker::honest(tasks, "slow"));
    late += tasks.tasks.size();
  }
  slow.serve(job_limit, [](const zpipe::TaskBatch&) {}, [&] { return sink.wait_for(0ms).has_value(); });
  REQUIRE(sink.wait_for(10s) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  check_output(run, 400, {"good"});  // every id once, and none of them the slow worker's
  INFO("the slow worker sent " << late << " late result(s) for " << held_ids.size() << " task(s)");
  CHECK(late == held_ids.size());
  CHECK(held.size() == 1);
  CHECK(sum_of_counts(run.log("ventilator"), R"(worker slow held (\d+) task\(s\) past --task-timeout: dealing \1 again)") ==
        held_ids.size());
  CHECK_THAT(run.log("sink"), Catch::Contains("duplicates dropped: " + std::to_string(late) + ",") &&
                                  Catch::Contains("results without a lease rejected: 0") &&
                                  Catch::Contains("tasks per worker: good 400"));
}

TEST_CASE("a worker cannot forge results: not for others' ids or unleased ids and not under another name") {
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good", "rogue"});
  write_file(run.dir / "tasks.txt", sleep_tasks(300));  // 3 s for one worker
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind",
                                                             "sleep", "--batch", "4"} + keys.ventilator());
  // The honest worker first: by the time the forger is in, it holds leases
  // of its own, and it goes on taking more while the forger lies.
  run.worker(keys.worker("good") + std::vector<std::string>{"--threads", "1"});
  REQUIRE(eventually([&] { return run.results().size() >= 10; }, 20s));
  RogueWorker rogue(keys.pair("rogue"), run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint,
                    keys.z85("sink"));
  rogue.to_ventilator(zpipe::Hello{"rogue", 2});
  constexpr int forging_rounds = 3;
  int rounds = 0;
  std::uint64_t forged = 0;
  std::set<zpipe::TaskId> pending_elsewhere;  // forged for while another worker held or was yet to get them
  rogue.serve(job_limit, [&](const zpipe::TaskBatch& tasks) {
    if (rounds < forging_rounds) {
      ++rounds;
      std::set<zpipe::TaskId> printed;
      for (const auto& line : run.results()) printed.insert(parse_result_line(line).task_id);
      // A wrong value for every id of the job but those leased to it (a
      // lease may also cover ids of its earlier frames, §6.5): under its own
      // leases, under those leases stretched over the whole job, under none
      // claiming to be the ventilator; and a false name.
      zpipe::ResultBatch lies{tasks.job, "good", {}, tasks.leases};
      for (zpipe::TaskId id = 1; id <= 300; ++id)
        if (std::none_of(tasks.leases.begin(), tasks.leases.end(),
                         [&](const zpipe::Lease& lease) { return lease.first <= id && id <= lease.last; })) {
          lies.results.push_back({id, true, zpipe::Value{std::int64_t{-1}}});
          if (printed.count(id) == 0) pending_elsewhere.insert(id);
        }
      rogue.to_sink(lies);
      for (auto& lease : lies.leases) lease.last = 300;
      rogue.to_sink(lies);
      lies.leases.clear();
      lies.worker = "ventilator";
      rogue.to_sink(lies);
      forged += 3 * lies.results.size();
    }
    rogue.to_sink(RogueWorker::honest(tasks, "good"));  // true results, under another worker's name
    rogue.to_ventilator(zpipe::Credit{1});
  }, [&] { return sink.wait_for(0ms).has_value(); });
  REQUIRE(sink.wait_for(10s) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  REQUIRE(rounds == forging_rounds);
  check_output(run, 300, {"good", "rogue"});  // no -1 among them
  std::size_t by_rogue = 0, pending_then_good = 0;
  for (const auto& [id, result] : every_task_once(run.results(), 300)) {
    by_rogue += result.worker == "rogue";
    pending_then_good += result.worker == "good" && pending_elsewhere.count(id) > 0;
  }
  CHECK(by_rogue > 0);            // its honest results count, under its key's name
  CHECK(pending_then_good > 0);   // the honest worker's tasks were among those forged
  INFO("forged " << forged << " result(s)");
  CHECK_THAT(run.log("sink"), Catch::Contains("results without a lease rejected: " + std::to_string(forged) + "\n") &&
                                  Catch::Contains("from key 'rogue' for tasks not leased to it") &&
                                  Catch::Contains("lease(s) with a wrong token"));
}

TEST_CASE("a worker cannot take the ventilator's role at the sink") {
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good", "rogue"});
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--count", "500", "--kind", "square", "--batch", "4",
                                                             "--min-workers", "2"} + keys.ventilator());
  RogueWorker rogue(keys.pair("rogue"), run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint,
                    keys.z85("sink"));
  rogue.to_ventilator(zpipe::Hello{"rogue", 2});
  run.worker(keys.worker("good"));
  bool tried = false;
  rogue.serve(10s, [&](const zpipe::TaskBatch& tasks) {
    if (!tried) {
      tried = true;
      rogue.to_sink(zpipe::JobManifest{tasks.job, "square", 500, "", true, 0});  // "I am the ventilator now"
      rogue.to_sink(zpipe::JobManifest{tasks.job + 1, "square", 1, "", false, 0});
      rogue.to_sink(zpipe::JobEnd{tasks.job, false});  // and the job is cancelled
    }
    rogue.to_sink(RogueWorker::honest(tasks, "ventilator"));  // its true results, under a name it has no key for
    rogue.to_ventilator(zpipe::Credit{1});
  }, [&] { return tried; });
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  check_squares(every_task_once(run.results(), 500), {"good", "rogue"});
  CHECK_THAT(run.log("sink"), Catch::Contains("job from key 'rogue', whose role (worker) may not send it") &&
                                  Catch::Contains("job_end from key 'rogue', whose role (worker) may not send it") &&
                                  Catch::Contains("refused 3 message(s)"));
}

TEST_CASE("a hoarder holds at most --max-held-per-worker tasks and loses them after --task-timeout") {
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good", "hoarder"});
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--count", "2000", "--kind", "square", "--batch", "8",
                                                             "--min-workers", "2", "--task-timeout", "1s",
                                                             "--max-held-per-worker", "64"} + keys.ventilator());
  RogueWorker hoarder(keys.pair("hoarder"), run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint,
                      keys.z85("sink"));
  hoarder.to_ventilator(zpipe::Hello{"hoarder", 0xffffffff});  // as many as it may, and it keeps them
  run.worker(keys.worker("good"));
  std::size_t taken = 0;
  hoarder.serve(job_limit, [&](const zpipe::TaskBatch& tasks) { taken += tasks.tasks.size(); },
                [&] { return sink.wait_for(0ms).has_value(); });
  REQUIRE(sink.wait_for(10s) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 2000);
  check_squares(by_id, {"good"});
  INFO("the hoarder was dealt " << taken << " task(s)");
  CHECK(taken <= 64);  // then they timed out, went to others, and it got nothing more
  CHECK_THAT(run.log("ventilator"), Catch::Contains("worker hoarder held 64 task(s) past --task-timeout: dealing 64 again"));
}

TEST_CASE("hello and name floods leave the servers' memory where it was") {
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good", "rogue"});
  auto& sink = run.sink(keys.sink());
  write_file(run.dir / "tasks.txt", sleep_tasks(1500));  // 15 s for one worker: it outlasts the flood
  auto& ventilator = run.ventilator(std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind",
                                                             "sleep"} + keys.ventilator());
  run.worker(keys.worker("good") + std::vector<std::string>{"--threads", "1"});
  REQUIRE(eventually([&] { return run.results().size() >= 5; }, 20s));
  const std::uint64_t ventilator_before = status_kib(ventilator.pid(), "VmRSS");
  const std::uint64_t sink_before = status_kib(sink.pid(), "VmRSS");
  const std::string huge_name(1 << 20, 'n');
  const zpipe::CurveKeyPair rogue_keys = keys.pair("rogue");
  for (int i = 0; i < 200; ++i) {
    // A new connection each time: a hello with a 1 MiB name, results under
    // another 1 MiB name, and gone.
    RogueWorker rogue(rogue_keys, run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint, keys.z85("sink"));
    rogue.to_ventilator(zpipe::Hello{huge_name + std::to_string(i), 4});
    rogue.to_sink(zpipe::ResultBatch{0, huge_name + std::to_string(i), {{1, true, zpipe::Value{std::int64_t{1}}}}, {}});
  }
  const std::uint64_t ventilator_after = status_kib(ventilator.pid(), "VmRSS");
  const std::uint64_t sink_after = status_kib(sink.pid(), "VmRSS");
  const std::uint64_t ventilator_peak = status_kib(ventilator.pid(), "VmHWM");
  const std::uint64_t sink_peak = status_kib(sink.pid(), "VmHWM");
  INFO("ventilator RSS " << ventilator_before << " -> " << ventilator_after << " KiB, peak " << ventilator_peak
                         << "; sink " << sink_before << " -> " << sink_after << " KiB, peak " << sink_peak);
  REQUIRE(ventilator_after > 0);
  REQUIRE(sink_after > 0);
  CHECK(ventilator_after < ventilator_before + growth_kib_at_most);
  CHECK(sink_after < sink_before + growth_kib_at_most);
#ifndef ZPIPE_SANITIZED
  CHECK(ventilator_peak < 64 * 1024);
  CHECK(sink_peak < 64 * 1024);
#endif
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  check_output(run, 1500, {"good"});
  CHECK_THAT(run.log("ventilator") + run.log("sink"), !Catch::Contains(huge_name.substr(0, 100)));
}

TEST_CASE("a FIFO and a /dev/zero link in the allow-list are skipped and a removed directory admits nobody") {
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good", "good2"});
  const fs::path workers = keys.dir / "workers";
  REQUIRE(::mkfifo((workers / "fifo.pub").c_str(), 0644) == 0);
  fs::create_symlink("/dev/zero", workers / "zero.pub");
  auto& sink = run.sink(keys.sink());
  write_file(run.dir / "tasks.txt", sleep_tasks(600));
  auto& ventilator = run.ventilator(std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind",
                                                             "sleep"} + keys.ventilator());
  run.worker(keys.worker("good") + std::vector<std::string>{"--threads", "1"});
  REQUIRE(eventually([&] { return run.results().size() >= 20; }, 20s));
  // The whole directory goes: the connected worker loses its role.
  fs::rename(workers, keys.dir / "away");
  REQUIRE(eventually([&] { return run.log("ventilator").find("key 'good' lost its worker role") != std::string::npos; },
                     5s));
  const std::size_t done_by_good = run.results().size();
  // It comes back, with good2 only: good2 gets in and finishes the job.
  fs::create_directories(workers);
  fs::copy_file(keys.dir / "away" / "good2.pub", workers / "good2.pub");
  for (const auto& server : {"ventilator", "sink"})
    REQUIRE(eventually([&] { return run.log(server).find("changed: 1 worker key(s)") != std::string::npos; }, 5s));
  run.worker(keys.worker("good2"));
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  check_output(run, 600, {"good", "good2"});
  for (const auto& log : {run.log("ventilator"), run.log("sink")}) {
    CHECK_THAT(log, Catch::Contains("fifo.pub: not a regular file") && Catch::Contains("zero.pub: not a regular file"));
    CHECK_THAT(log, Catch::Contains("admitting no worker key from it"));
  }
  std::size_t by_good = 0;
  for (const auto& [id, result] : every_task_once(run.results(), 600)) by_good += result.worker == "good";
  CHECK(by_good <= done_by_good + 4);  // what it had been dealt before; nothing after
}

TEST_CASE("under 1000 half-open connections to each server a genuine worker still gets in within 2 s") {
  zpipe::raise_descriptor_limit();  // this test holds the connections
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good"});
  ChildProcess* sink = nullptr;
  ChildProcess* ventilator = nullptr;
  {
    // The servers start with a soft limit of 256 descriptors, far below
    // what the connections take: each must raise its own.
    const SoftDescriptorLimit low(256);
    sink = &run.sink(keys.sink());
    ventilator = &run.ventilator(std::vector<std::string>{"--count", "1000", "--kind", "square"} + keys.ventilator());
  }
  for (const pid_t pid : {sink->pid(), ventilator->pid()}) {
    const auto [soft, hard] = descriptor_limits(pid);
    INFO("server " << pid << ": soft limit " << soft << ", hard " << hard);
    CHECK(soft == hard);
    CHECK(soft > 2000);
  }
  // Connected, and never a byte of handshake.
  const auto opened = Clock::now();
  std::vector<int> held = hold_half_open(port_of(run.ventilator_endpoint), ventilator->pid(), 1000);
  for (const int fd : hold_half_open(port_of(run.sink_endpoint), sink->pid(), 1000)) held.push_back(fd);
  const auto start = Clock::now();
  INFO("2000 connections opened in " << std::chrono::duration_cast<std::chrono::milliseconds>(start - opened).count()
                                     << " ms");
  const auto since_start = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start); };
  run.worker(keys.worker("good"));
  // In at the ventilator (it joined) and at the sink (a result is printed).
  REQUIRE(eventually([&] { return run.log("ventilator").find("worker good joined") != std::string::npos; }, 10s));
  const auto joined = since_start();
  REQUIRE(eventually([&] { return !run.results().empty(); }, 10s));
  const auto first_result = since_start();
  INFO("beside 1000 half-open connections to each server, the worker joined " << joined.count()
       << " ms after it started and its first result was printed after " << first_result.count() << " ms");
  CHECK(joined <= 2s);
  CHECK(first_result <= 2s);
  REQUIRE(sink->wait_for(10s) == 0);  // 1000 squares: well under a second once in
  REQUIRE(ventilator->wait_for(10s) == 0);
  check_squares(every_task_once(run.results(), 1000), {"good"});
  for (const int fd : held) ::close(fd);
}

TEST_CASE("a protocol version 1 peer is refused, counted and told to upgrade, and the job goes on") {
  JobRun run;
  const KeyRing keys(run.dir.path(), {"good", "old"});
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--count", "500", "--kind", "square", "--batch", "4"} +
                                    keys.ventilator());
  // An admitted key running a build from before leases (PROTOCOL.md §10,
  // vector 19): hello [1, 1, "old", 4] and results [1, 4, 1, "old", [1], [true], [-1]].
  RogueWorker old(keys.pair("old"), run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint,
                  keys.z85("sink"));
  old.raw_to_ventilator(std::string("\x94\x01\x01\xa3old\x04", 8));
  old.raw_to_sink(std::string("\x97\x01\x04\x01\xa3old\x91\x01\x91\xc3\x91\xff", 14));
  for (const auto& server : {"ventilator", "sink"}) {
    INFO(server);
    REQUIRE(eventually([&] {
      const std::string log = run.log(server);
      return log.find("protocol version 1 is not spoken here") != std::string::npos &&
             log.find("upgrade the peer") != std::string::npos;
    }, 10s));
  }
  run.worker(keys.worker("good"));
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  check_squares(every_task_once(run.results(), 500), {"good"});
  CHECK_THAT(run.log("ventilator"), Catch::Contains("rejected 1 worker and 0 sink message(s)") &&
                                        !Catch::Contains("worker old joined"));
  CHECK_THAT(run.log("sink"), Catch::Contains("frames rejected: 1,"));
}

TEST_CASE("half-open connections are closed once their handshake times out") {
  zpipe::raise_descriptor_limit();
  ScratchDir dir;
  const KeyRing keys(dir.path(), {"good"});
  ChildProcess sink({ZPIPE_SINK, "--bind", "tcp://127.0.0.1:*", "--curve-secret", keys.key("sink"), "--allow-workers",
                     (keys.dir / "workers").string(), "--allow-ventilators", (keys.dir / "ventilators").string()},
                    dir / "out", dir / "err");
  const std::string endpoint = bound_endpoint(dir / "err", "collecting results at ");
  const std::size_t before = open_descriptors(sink.pid());
  std::vector<int> held;
  for (int i = 0; i < 300; ++i) held.push_back(connect_loopback(port_of(endpoint)));
  REQUIRE(eventually([&] { return open_descriptors(sink.pid()) >= before + 250; }, 5s));
  // ZMQ_HANDSHAKE_IVL is 5 s: then the sink closes every one of them.
  CHECK(eventually([&] { return open_descriptors(sink.pid()) <= before + 10; }, 10s));
  for (const int fd : held) ::close(fd);
}
