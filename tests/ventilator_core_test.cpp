// The ventilator's state machine driven directly, with time passed in: what
// it tells workers that join after the job ended, how often it answers a
// stranger's credits, and that a dead worker's tasks go to another at once.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/lease.hpp"
#include "zpipe/task_source.hpp"
#include "zpipe/ventilator_core.hpp"

using namespace std::chrono_literals;
using zpipe::Message;

namespace {

const std::string secret(16, 's');  // the sink's lease secret

struct Sent {
  std::string peer;  // empty: to the sink
  Message message;
};

class RecordingEffects final : public zpipe::VentilatorEffects {
 public:
  bool send_to_worker(std::string_view peer, std::string& frame) override {
    if (std::find(unreachable.begin(), unreachable.end(), peer) != unreachable.end()) return false;
    largest_to_workers = std::max(largest_to_workers, frame.size());
    // A frame over the limit would be dropped by the worker's ZMQ_MAXMSGSIZE
    // (and decode() rejects it): only its size is kept.
    if (frame.size() > zpipe::DecodeLimits{}.max_frame_bytes) return true;
    sent.push_back({std::string(peer), zpipe::decode(frame)});
    return true;
  }
  void send_to_sink(std::string_view frame) override { sent.push_back({"", zpipe::decode(frame)}); }
  void log(std::string_view line) override { logged.emplace_back(line); }

  template <class Type>
  std::vector<Type> to(const std::string& peer) const {
    std::vector<Type> found;
    for (const auto& [to, message] : sent)
      if (to == peer)
        if (const auto* typed = std::get_if<Type>(&message)) found.push_back(*typed);
    return found;
  }
  std::vector<Sent> sent;
  std::vector<std::string> logged;
  std::vector<std::string> unreachable;  // peers a send to fails (their connection closed)
  std::size_t largest_to_workers = 0;     // bytes of the largest frame sent to a worker
};

// `count` tasks whose payloads are strings of `bytes` bytes each.
class WideSource final : public zpipe::TaskSource {
 public:
  WideSource(std::uint64_t count, std::size_t bytes) : count_(count), bytes_(bytes) {}
  std::optional<zpipe::SourceTask> next() override {
    if (read_ == count_) return std::nullopt;
    ++read_;
    return zpipe::SourceTask{zpipe::Value{std::string(bytes_, 'x')}, {}};
  }
  [[nodiscard]] bool exhausted() const override { return read_ == count_; }
  [[nodiscard]] std::optional<std::uint64_t> known_total() const override { return count_; }
  [[nodiscard]] std::optional<std::string> fingerprint() const override { return "wide"; }

 private:
  std::uint64_t count_;
  std::size_t bytes_;
  std::uint64_t read_ = 0;
};

std::size_t count_containing(const std::vector<std::string>& lines, std::string_view text) {
  std::size_t n = 0;
  for (const auto& line : lines) n += line.find(text) != std::string::npos ? 1 : 0;
  return n;
}

std::vector<zpipe::TaskId> ids_dealt(const RecordingEffects& effects, const std::string& peer) {
  std::vector<zpipe::TaskId> ids;
  for (const auto& batch : effects.to<zpipe::TaskBatch>(peer))
    for (const auto& task : batch.tasks) ids.push_back(task.id);
  return ids;
}

using Kinds = std::vector<std::string>;

// A job of kind `upper` whose sink has accepted it, before any worker.
struct UpperJob {
  explicit UpperJob(std::uint64_t tasks, std::uint32_t min_workers = 1)
      : core(settings(min_workers), zpipe::count_source("upper", tasks), effects, now) {
    core.tick(now);
    core.sink_connected(now);
    core.sink_frame(zpipe::JobAccepted{7, tasks, 0, secret}, now);
    core.tick(now);
  }
  static zpipe::VentilatorSettings settings(std::uint32_t min_workers) {
    zpipe::VentilatorSettings settings;
    settings.job = 7;
    settings.kind = "upper";
    settings.min_workers = min_workers;
    settings.worker_timeout = 1000ms;
    settings.kind_timeout = 30s;
    return settings;
  }
  // Advances time with every worker keeping alive.
  void pass(std::chrono::milliseconds length, const std::vector<std::string>& workers) {
    for (auto left = length; left > 0ms; left -= 250ms) {
      now += std::min(left, std::chrono::milliseconds(250));
      for (const auto& worker : workers) core.worker_frame(worker, zpipe::Credit{0}, now);
      core.tick(now);
    }
  }
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::VentilatorCore core;
};

// A job of `tasks` tasks whose sink has accepted it, with worker "w1" dealt to.
struct Job {
  explicit Job(std::uint64_t tasks) : core(settings(), zpipe::count_source("square", tasks), effects, now) {
    core.tick(now);
    core.sink_connected(now);
    core.sink_frame(zpipe::JobAccepted{7, tasks, 0, secret}, now);
    core.worker_frame("w1", zpipe::Hello{"one", 4}, now);
    core.tick(now);
  }
  static zpipe::VentilatorSettings settings() {
    zpipe::VentilatorSettings settings;
    settings.job = 7;
    settings.worker_timeout = 1000ms;
    return settings;
  }
  void acknowledge_all(std::uint64_t tasks) {
    core.sink_frame(zpipe::Ack{7, {{1, tasks}}}, now);
    core.tick(now);
  }
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::VentilatorCore core;
};

}  // namespace

TEST_CASE("a worker that says hello after every task was acknowledged is told the job is over") {
  Job job(3);
  REQUIRE(job.effects.to<zpipe::TaskBatch>("w1").size() == 3);
  job.acknowledge_all(3);
  REQUIRE(job.core.complete());
  CHECK(job.effects.to<zpipe::JobEnd>("w1").size() == 1);
  job.core.worker_frame("late", zpipe::Hello{"late", 2}, job.now);
  const auto told = job.effects.to<zpipe::JobEnd>("late");
  REQUIRE(told.size() == 1);
  CHECK(told[0].complete);
  CHECK(job.effects.to<zpipe::TaskBatch>("late").empty());
  // The sink is told too, and the core finishes once it answers.
  CHECK(job.effects.to<zpipe::JobEnd>("").size() == 1);
  job.core.sink_frame(zpipe::JobEnd{7, true}, job.now);
  CHECK(job.core.exit_status() == 0);
}

TEST_CASE("the manifest tells the sink the most tasks dealt before waiting for acks, so it acks in time") {
  const auto [in_flight, held, window] = GENERATE(table<std::uint64_t, std::uint64_t, std::uint64_t>(
      {{262144, 262144, 262144}, {1000, 262144, 1000}, {262144, 500, 500}}));
  zpipe::VentilatorSettings settings = Job::settings();
  settings.max_in_flight = in_flight;
  settings.max_held_per_worker = held;
  const auto now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::VentilatorCore core(settings, zpipe::count_source("square", 10), effects, now);
  core.tick(now);
  core.sink_connected(now);
  const auto manifests = effects.to<zpipe::JobManifest>("");
  REQUIRE_FALSE(manifests.empty());
  CHECK(manifests.back().window == window);
}

TEST_CASE("credits from a worker the ventilator does not know get at most one hello_again a second") {
  Job job(1000);
  // Its hello may be right behind a credit it queued while reconnecting.
  for (int i = 0; i < 100; ++i) job.core.worker_frame("stranger", zpipe::Credit{1}, job.now);
  CHECK(job.effects.to<zpipe::HelloAgain>("stranger").empty());
  job.now += 250ms;
  for (int i = 0; i < 100; ++i) job.core.worker_frame("stranger", zpipe::Credit{1}, job.now);
  CHECK(job.effects.to<zpipe::HelloAgain>("stranger").size() == 1);
  job.now += 999ms;
  job.core.worker_frame("stranger", zpipe::Credit{1}, job.now);
  CHECK(job.effects.to<zpipe::HelloAgain>("stranger").size() == 1);
  job.now += 1ms;
  job.core.worker_frame("stranger", zpipe::Credit{1}, job.now);
  CHECK(job.effects.to<zpipe::HelloAgain>("stranger").size() == 2);
}

TEST_CASE("a credit that arrives just ahead of its worker's hello is not answered with hello_again") {
  Job job(1000);
  job.core.worker_frame("back", zpipe::Credit{0}, job.now);  // queued before the reconnection
  job.now += 1ms;
  job.core.worker_frame("back", zpipe::Hello{"back", 2}, job.now);
  job.now += 300ms;
  job.core.tick(job.now);
  CHECK(job.effects.to<zpipe::HelloAgain>("back").empty());
  CHECK_FALSE(job.effects.to<zpipe::TaskBatch>("back").empty());
}

TEST_CASE("a worker whose connection closes loses its tasks to another at once") {
  Job job(4);
  REQUIRE(job.effects.to<zpipe::TaskBatch>("w1").size() == 4);
  job.core.worker_frame("w2", zpipe::Hello{"two", 4}, job.now);
  job.core.worker_gone("w1", job.now);
  job.core.tick(job.now);  // no time has passed: no silence timeout is involved
  std::vector<zpipe::TaskId> dealt;
  for (const auto& batch : job.effects.to<zpipe::TaskBatch>("w2"))
    for (const auto& task : batch.tasks) dealt.push_back(task.id);
  CHECK(dealt == std::vector<zpipe::TaskId>{1, 2, 3, 4});
  CHECK(job.core.dealt_again() == 4);
}

TEST_CASE("a worker taken for gone by silence is still told when the job ends") {
  Job job(2);
  job.core.worker_frame("w2", zpipe::Hello{"two", 4}, job.now);
  job.now += 1500ms;
  job.core.worker_frame("w2", zpipe::Credit{0}, job.now);  // w2 speaks, w1 stays silent
  job.core.tick(job.now);
  REQUIRE(job.core.workers() == 1);
  job.acknowledge_all(2);
  REQUIRE(job.core.complete());
  CHECK(job.effects.to<zpipe::JobEnd>("w1").size() == 1);
  CHECK(job.effects.to<zpipe::JobEnd>("w2").size() == 1);
}

TEST_CASE("a resumed ventilator deals nothing before the sink's acks say what it holds") {
  RecordingEffects effects;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  auto settings = Job::settings();
  settings.resume = true;
  zpipe::VentilatorCore core(settings, zpipe::count_source("square", 6), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, 6, 3, secret}, now);
  core.worker_frame("w1", zpipe::Hello{"one", 8}, now);
  core.tick(now);
  CHECK(effects.to<zpipe::TaskBatch>("w1").empty());  // the acks are on their way
  core.sink_frame(zpipe::Ack{7, {{1, 1}, {4, 5}}}, now);
  core.tick(now);
  std::vector<zpipe::TaskId> dealt;
  for (const auto& batch : effects.to<zpipe::TaskBatch>("w1"))
    for (const auto& task : batch.tasks) dealt.push_back(task.id);
  CHECK(dealt == std::vector<zpipe::TaskId>{2, 3, 6});
}

// ---- kinds (issue 9) --------------------------------------------------------

TEST_CASE("tasks go only to workers whose hello lists the job's kind, or lists no kinds at all") {
  UpperJob job(6);
  job.core.worker_frame("stock", zpipe::Hello{"stock", 4, Kinds{"exec", "fail", "primes", "square"}}, job.now);
  job.core.worker_frame("none", zpipe::Hello{"none", 4, Kinds{}}, job.now);
  job.core.worker_frame("custom", zpipe::Hello{"custom", 4, Kinds{"square", "upper"}}, job.now);
  job.core.worker_frame("old", zpipe::Hello{"old", 4}, job.now);  // older than kinds: runs every kind
  job.core.tick(job.now);
  CHECK(ids_dealt(job.effects, "stock").empty());
  CHECK(ids_dealt(job.effects, "none").empty());
  auto all = ids_dealt(job.effects, "custom");
  const auto old = ids_dealt(job.effects, "old");
  CHECK_FALSE(all.empty());
  CHECK_FALSE(old.empty());
  all.insert(all.end(), old.begin(), old.end());
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<zpipe::TaskId>{1, 2, 3, 4, 5, 6});
  CHECK(job.core.workers() == 4);
  CHECK(job.core.workers_running_kind() == 2);
  CHECK(count_containing(job.effects.logged, "does not run kind 'upper'") == 2);
}

TEST_CASE("a lost worker's tasks are dealt again only to a worker that runs the kind") {
  UpperJob job(4);
  job.core.worker_frame("custom", zpipe::Hello{"custom", 4, Kinds{"upper"}}, job.now);
  job.core.tick(job.now);
  REQUIRE(ids_dealt(job.effects, "custom").size() == 4);
  job.core.worker_frame("stock", zpipe::Hello{"stock", 4, Kinds{"square"}}, job.now);
  job.core.worker_gone("custom", job.now);
  job.core.tick(job.now);
  CHECK(ids_dealt(job.effects, "stock").empty());
  job.core.worker_frame("custom2", zpipe::Hello{"custom2", 4, Kinds{"upper"}}, job.now);
  job.core.tick(job.now);
  CHECK(ids_dealt(job.effects, "custom2") == std::vector<zpipe::TaskId>{1, 2, 3, 4});
}

TEST_CASE("dealing waits for --min-workers workers that run the job's kind") {
  UpperJob job(4, 2);
  job.core.worker_frame("custom", zpipe::Hello{"custom", 4, Kinds{"upper"}}, job.now);
  job.core.worker_frame("stock", zpipe::Hello{"stock", 4, Kinds{"square"}}, job.now);
  job.core.tick(job.now);
  CHECK(ids_dealt(job.effects, "custom").empty());
  job.core.worker_frame("old", zpipe::Hello{"old", 4}, job.now);
  job.core.tick(job.now);
  CHECK(ids_dealt(job.effects, "custom").size() + ids_dealt(job.effects, "old").size() == 4);
}

TEST_CASE("a job whose kind no connected worker runs says so every 10 s, then is cancelled and exits 3") {
  UpperJob job(4);
  job.pass(5s, {});  // no worker at all: workers may come later, nothing is said
  CHECK(count_containing(job.effects.logged, "no worker runs kind") == 0);
  job.core.worker_frame("stock", zpipe::Hello{"stock", 4, Kinds{"fail", "square"}}, job.now);
  job.core.worker_frame("none", zpipe::Hello{"none", 4, Kinds{}}, job.now);
  job.core.tick(job.now);
  REQUIRE(count_containing(job.effects.logged, "no worker runs kind 'upper'; 2 connected run: fail, square") == 1);
  job.pass(9750ms, {"stock", "none"});
  CHECK(count_containing(job.effects.logged, "no worker runs kind") == 1);
  job.pass(250ms, {"stock", "none"});
  CHECK(count_containing(job.effects.logged, "no worker runs kind") == 2);
  job.pass(19750ms, {"stock", "none"});
  CHECK(count_containing(job.effects.logged, "no worker runs kind") == 3);
  CHECK(job.effects.to<zpipe::JobEnd>("").empty());
  job.pass(250ms, {"stock", "none"});
  // 30 s: the job is cancelled, the sink and the workers told.
  const auto told_sink = job.effects.to<zpipe::JobEnd>("");
  REQUIRE(told_sink.size() == 1);
  CHECK_FALSE(told_sink[0].complete);
  CHECK(job.effects.to<zpipe::JobEnd>("stock").size() == 1);
  CHECK_FALSE(job.core.exit_status());
  job.core.sink_frame(zpipe::JobEnd{7, false}, job.now);
  CHECK(job.core.exit_status() == 3);
  CHECK(ids_dealt(job.effects, "stock").empty());
}

TEST_CASE("the kind timeout starts again once a worker that runs the kind has come") {
  UpperJob job(4);
  job.core.worker_frame("stock", zpipe::Hello{"stock", 4, Kinds{"square"}}, job.now);
  job.pass(20s, {"stock"});
  job.core.worker_frame("custom", zpipe::Hello{"custom", 1, Kinds{"upper"}}, job.now);
  job.pass(5s, {"stock", "custom"});
  job.core.worker_gone("custom", job.now);
  job.core.tick(job.now);
  job.pass(25s, {"stock"});  // 45 s since the first, 25 s since the last without the kind
  CHECK(job.effects.to<zpipe::JobEnd>("").empty());
  job.pass(5s, {"stock"});
  CHECK(job.effects.to<zpipe::JobEnd>("").size() == 1);
}

namespace {

class LogEffects final : public zpipe::VentilatorEffects {
 public:
  bool send_to_worker(std::string_view, std::string&) override { return true; }
  void send_to_sink(std::string_view) override {}
  void log(std::string_view line) override { lines.emplace_back(line); }
  [[nodiscard]] std::size_t count(std::string_view text) const {
    std::size_t found = 0;
    for (const auto& line : lines) found += line.find(text) != std::string::npos ? 1 : 0;
    return found;
  }
  std::vector<std::string> lines;
};

}  // namespace

TEST_CASE("a ventilator short of --min-workers says so every 10 s, and stops once dealing starts") {
  LogEffects effects;
  auto settings = Job::settings();
  settings.min_workers = 2;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  zpipe::VentilatorCore core(settings, zpipe::count_source("square", 10), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, 10, 0, secret}, now);
  core.tick(now);
  core.worker_frame("w1", zpipe::Hello{"one", 4}, now);
  for (int step = 0; step < 250; ++step) {  // 25 s in steps of 100 ms
    now += 100ms;
    core.worker_frame("w1", zpipe::Credit{0}, now);
    core.tick(now);
  }
  INFO(Catch::rangeToString(effects.lines));
  REQUIRE(effects.count("still waiting for workers: 1 of --min-workers 2 have said hello") == 2);
  CHECK(effects.count("10 of 10 task(s) to do") == 2);
  CHECK(core.next_deadline() <= now + 10s);  // the next line is due even if nothing happens

  core.worker_frame("w2", zpipe::Hello{"two", 4}, now);
  core.tick(now);
  for (int step = 0; step < 150; ++step) {
    now += 100ms;
    core.worker_frame("w1", zpipe::Credit{0}, now);
    core.worker_frame("w2", zpipe::Credit{0}, now);
    core.tick(now);
  }
  CHECK(effects.count("still waiting for workers") == 2);
}

TEST_CASE("a ventilator whose every worker is gone mid-job says so every 10 s") {
  LogEffects effects;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  zpipe::VentilatorCore core(Job::settings(), zpipe::count_source("square", 100), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, 100, 0, secret}, now);
  core.worker_frame("w1", zpipe::Hello{"one", 4}, now);
  core.worker_frame("w1", zpipe::Credit{4}, now);
  core.tick(now);
  core.worker_gone("w1", now);
  for (int step = 0; step < 105; ++step) {  // 10.5 s
    now += 100ms;
    core.tick(now);
  }
  INFO(Catch::rangeToString(effects.lines));
  CHECK(effects.count("still waiting for workers: none is connected (100 of 100 task(s) to do)") == 1);
  CHECK(effects.count("--min-workers") == 0);
}

TEST_CASE("status reports progress, the rate over the last seconds, and each worker's held, done and silence") {
  Job job(1000);
  zpipe::PeerIdentity two;
  two.address = "10.0.0.2";
  job.core.worker_frame("w2", two, zpipe::Hello{"two", 4}, job.now);
  job.core.tick(job.now);
  const auto held_by = [&](const std::string& peer) { return ids_dealt(job.effects, peer); };
  const auto row_of = [](const zpipe::Status& status, const std::string& name) {
    const auto row = std::find_if(status.rows.begin(), status.rows.end(), [&](const auto& r) { return r.name == name; });
    REQUIRE(row != status.rows.end());
    return *row;
  };
  const auto w1 = held_by("w1");
  const auto w2 = held_by("w2");
  REQUIRE(!w1.empty());
  REQUIRE(!w2.empty());

  // Two seconds on, the sink acknowledges everything w1 holds; w2 stays silent.
  job.now += 2s;
  for (const auto id : w1) job.core.sink_frame(zpipe::Ack{7, {{id, id}}}, job.now);
  job.core.worker_frame("w1", zpipe::Credit{0}, job.now);
  const zpipe::Status status = job.core.status(job.now + 500ms);
  CHECK(status.job == 7);
  CHECK(status.kind == "square");
  CHECK(status.phase == "dealing");
  CHECK(status.total == 1000u);
  CHECK(status.acknowledged == w1.size());
  CHECK(status.in_flight == status.read - w1.size());
  CHECK(status.workers == 2);
  CHECK(status.elapsed_ms == 2500);
  // w1.size() tasks in the 2.5 s since the job started.
  CHECK(status.rate == w1.size() * 1000 / 2500);
  const auto one = row_of(status, "one");
  CHECK(one.done == w1.size());
  CHECK(one.held == 0);
  CHECK(one.idle_ms == 500);
  const auto second = row_of(status, "two");
  CHECK(second.host == "10.0.0.2");
  CHECK(second.done == 0);
  CHECK(second.held == w2.size());
  CHECK(second.idle_ms == 2500);

  // Thirty seconds with no acknowledgement: the rate falls to nothing.
  CHECK(job.core.status(job.now + 30s).rate == 0);
  // Saying hello again keeps what a worker has done.
  job.core.worker_frame("w1", zpipe::Hello{"one", 4}, job.now + 1s);
  CHECK(row_of(job.core.status(job.now + 1s), "one").done == w1.size());
}

// ---- --retries: the sink asks again for a failed attempt ----------------

namespace {

// A job of square tasks with --retries, accepted by the sink, dealt a task
// a frame once `min_workers` workers have said hello.
struct RetryJob {
  RetryJob(std::uint64_t tasks, std::uint32_t retries, std::uint32_t min_workers)
      : core(settings(retries, min_workers), zpipe::count_source("square", tasks), effects, now) {
    core.tick(now);
    core.sink_connected(now);
    core.sink_frame(zpipe::JobAccepted{7, tasks, 0, secret}, now);
    core.tick(now);
  }
  static zpipe::VentilatorSettings settings(std::uint32_t retries, std::uint32_t min_workers) {
    zpipe::VentilatorSettings settings;
    settings.job = 7;
    settings.min_workers = min_workers;
    settings.worker_timeout = 1000ms;
    settings.retries = retries;
    return settings;
  }
  void hello(const std::string& worker, std::uint32_t window) {
    core.worker_frame(worker, zpipe::Hello{worker, window}, now);
    core.tick(now);
  }
  void retry(std::vector<zpipe::TaskId> ids, std::vector<std::uint32_t> attempts) {
    core.sink_frame(zpipe::Retry{7, std::move(ids), std::move(attempts)}, now);
    core.tick(now);
  }
  // Each "id:attempt" dealt to `peer`, in order.
  [[nodiscard]] std::vector<std::string> dealt(const std::string& peer) const {
    std::vector<std::string> dealt;
    for (const auto& batch : effects.to<zpipe::TaskBatch>(peer))
      for (std::size_t i = 0; i < batch.tasks.size(); ++i)
        dealt.push_back(std::to_string(batch.tasks[i].id) + ":" + std::to_string(batch.attempt(i)));
    return dealt;
  }
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::VentilatorCore core;
};

using Dealt = std::vector<std::string>;

}  // namespace

TEST_CASE("retries: a bundle that gathers retried frames and first attempts lists each task's own attempt") {
  RetryJob job(1000, 2, 2);
  job.core.worker_frame("w1", zpipe::Hello{"w1", 200, Kinds{"square"}, 64}, job.now);
  job.core.worker_frame("w2", zpipe::Hello{"w2", 200, Kinds{"square"}, 64}, job.now);
  job.core.tick(job.now);
  const auto w1 = ids_dealt(job.effects, "w1");
  REQUIRE(w1.size() == 200);
  const std::size_t before = job.effects.to<zpipe::TaskBatch>("w2").size();
  job.core.worker_frame("w2", zpipe::Credit{200}, job.now);
  job.retry({w1[3], w1[10], w1[100]}, {1, 1, 1});
  const auto w2 = job.effects.to<zpipe::TaskBatch>("w2");
  std::size_t retried = 0, firsts = 0;
  for (std::size_t b = before; b < w2.size(); ++b) {
    CHECK(w2[b].attempts.size() == (w2[b].attempts.empty() ? 0 : w2[b].tasks.size()));
    for (std::size_t i = 0; i < w2[b].tasks.size(); ++i) {
      const zpipe::TaskId id = w2[b].tasks[i].id;
      const bool was_retried = id == w1[3] || id == w1[10] || id == w1[100];
      CHECK(w2[b].attempt(i) == (was_retried ? 2u : 1u));
      ++(was_retried ? retried : firsts);
    }
  }
  CHECK(retried == 3);
  CHECK(firsts == 197);
  // The retried frames and first attempts went together.
  CHECK(w2[before].frames > 3);

  // w2 is lost: its tasks, first attempts before and after the retried
  // ones, go to w3 in bundles again, each with its own attempt.
  job.core.worker_gone("w2", job.now);
  job.core.worker_frame("w3", zpipe::Hello{"w3", 1024, Kinds{"square"}, 64}, job.now);
  job.core.tick(job.now);
  retried = 0;
  for (const auto& bundle : job.effects.to<zpipe::TaskBatch>("w3")) {
    for (std::size_t i = 0; i < bundle.tasks.size(); ++i) {
      const zpipe::TaskId id = bundle.tasks[i].id;
      const bool was_retried = id == w1[3] || id == w1[10] || id == w1[100];
      CHECK(bundle.attempt(i) == (was_retried ? 2u : 1u));
      retried += was_retried ? 1 : 0;
    }
  }
  CHECK(retried == 3);
}

TEST_CASE("retries: a failed attempt below the limit is dealt again, as the next attempt, to another worker") {
  RetryJob job(2, 2, 2);
  job.hello("w1", 4);
  job.hello("w2", 4);
  REQUIRE(job.dealt("w1") == Dealt{"1:1"});
  REQUIRE(job.dealt("w2") == Dealt{"2:1"});
  // The sink learns the limit from the manifest.
  REQUIRE_FALSE(job.effects.to<zpipe::JobManifest>("").empty());
  CHECK(job.effects.to<zpipe::JobManifest>("").back().retries == 2);

  job.retry({1}, {1});  // w1 failed task 1: it goes to w2, which has credit
  CHECK(job.dealt("w1") == Dealt{"1:1"});
  CHECK(job.dealt("w2") == Dealt{"2:1", "1:2"});
  CHECK(job.core.retried() == 1);
  job.retry({1}, {2});  // and w2 failed it too: back to w1, the third attempt
  CHECK(job.dealt("w1") == Dealt{"1:1", "1:3"});
  CHECK(job.core.retried() == 2);
  // Only the frames with a retried task carry attempts.
  CHECK(job.effects.to<zpipe::TaskBatch>("w2").front().attempts.empty());
  CHECK(job.effects.to<zpipe::TaskBatch>("w2").back().attempts == std::vector<std::uint32_t>{2});

  job.core.sink_frame(zpipe::Ack{7, {{1, 2}}}, job.now);
  job.core.tick(job.now);
  CHECK(job.core.complete());
  CHECK_THAT(job.core.summary(1.0), Catch::Contains("2 retried"));
}

TEST_CASE("retries: with no other worker ready, a failed task goes back to the worker that failed it") {
  SECTION("the only worker") {
    RetryJob job(1, 1, 1);
    job.hello("w1", 4);
    job.retry({1}, {1});
    CHECK(job.dealt("w1") == Dealt{"1:1", "1:2"});
  }
  SECTION("the other worker has no credit left") {
    RetryJob job(3, 1, 2);
    job.hello("w1", 3);
    job.hello("w2", 1);
    REQUIRE(job.dealt("w1") == Dealt{"1:1", "3:1"});
    REQUIRE(job.dealt("w2") == Dealt{"2:1"});
    job.retry({1}, {1});
    CHECK(job.dealt("w1") == Dealt{"1:1", "3:1", "1:2"});
    CHECK(job.dealt("w2") == Dealt{"2:1"});
  }
}

TEST_CASE("retries: a retry that is stale, repeated, for a task done or of another job is ignored") {
  RetryJob job(3, 3, 1);
  job.hello("w1", 8);
  REQUIRE(job.dealt("w1") == Dealt{"1:1", "2:1", "3:1"});
  job.retry({1, 2}, {1, 1});
  const Dealt once{"1:1", "2:1", "3:1", "1:2", "2:2"};
  CHECK(job.dealt("w1") == once);
  job.retry({1, 2}, {1, 1});  // repeated (a duplicated result): already at attempt 2
  job.retry({1}, {3});        // an attempt not dealt yet
  CHECK(job.dealt("w1") == once);
  job.core.sink_frame(zpipe::Ack{7, {{3, 3}}}, job.now);
  job.retry({3}, {1});        // done
  job.retry({4, 0}, {1, 1});  // not in the job
  CHECK(job.dealt("w1") == once);
  CHECK(job.core.retried() == 2);
  CHECK_THROWS_AS(job.core.sink_frame(zpipe::Retry{8, {1}, {2}}, job.now), zpipe::codec_error);
  // Only the sink asks: from a worker's connection it is a bad frame.
  CHECK_THROWS_AS(job.core.worker_frame("w1", zpipe::Retry{7, {1}, {2}}, job.now), zpipe::codec_error);
  job.core.tick(job.now);
  CHECK(job.dealt("w1") == once);
}

TEST_CASE("retries 0: the manifest and the task frames are those of a job without retries") {
  Job job(3);
  for (const auto& manifest : job.effects.to<zpipe::JobManifest>("")) CHECK(manifest.retries == 0);
  for (const auto& batch : job.effects.to<zpipe::TaskBatch>("w1")) CHECK(batch.attempts.empty());
  const std::string manifest = zpipe::encode(job.effects.to<zpipe::JobManifest>("").front());
  // 13 elements: job.window is always sent, so retries is written, as 0.
  CHECK(static_cast<unsigned char>(manifest[0]) == 0x9d);
  job.acknowledge_all(3);
  CHECK_THAT(job.core.summary(1.0), !Catch::Contains("retried"));
}

// ---- --halt -----------------------------------------------------------------

namespace {

// A job of 10 square tasks, a task a frame, with --halt as the sink sees
// it; workers w1 and w2 hold two tasks each.
struct HaltJob : RetryJob {
  HaltJob() : RetryJob(10, 0, 2) {
    hello("w1", 2);
    hello("w2", 2);
  }
  void halt(bool now_too) {
    core.sink_frame(zpipe::Halt{7, now_too, "--halt soon,fail=1 (1 failed, 0 ok)"}, now);
    core.tick(now);
  }
  void ack(zpipe::TaskId first, zpipe::TaskId last) {
    core.sink_frame(zpipe::Ack{7, {{first, last}}}, now);
    core.tick(now);
  }
  [[nodiscard]] std::size_t dealt_in_all() const { return dealt("w1").size() + dealt("w2").size(); }
};

}  // namespace

TEST_CASE("halt soon: nothing more is dealt, what workers hold finishes, then the job ends unfinished (exit 5)") {
  HaltJob job;
  REQUIRE(job.dealt_in_all() == 4);
  job.halt(false);
  CHECK(job.core.halted());
  CHECK(job.effects.to<zpipe::JobEnd>("w1").empty());  // nothing cancelled yet
  // Credits come back, acks come: still nothing is dealt.
  job.core.worker_frame("w1", zpipe::Credit{2}, job.now);
  job.ack(1, 2);
  CHECK(job.dealt_in_all() == 4);
  CHECK(job.effects.to<zpipe::JobEnd>("").empty());
  job.ack(3, 4);  // the last held task is done: the job ends, not complete
  REQUIRE(job.effects.to<zpipe::JobEnd>("").size() == 1);
  CHECK_FALSE(job.effects.to<zpipe::JobEnd>("").front().complete);
  CHECK_FALSE(job.effects.to<zpipe::JobEnd>("w1").empty());
  job.core.sink_frame(zpipe::JobEnd{7, false}, job.now);
  REQUIRE(job.core.exit_status());
  CHECK(*job.core.exit_status() == zpipe::exit_halted);
  CHECK_THAT(job.core.summary(1.0), Catch::Contains("job halted") && Catch::Contains("6 not run"));
}

TEST_CASE("halt soon: tasks a lost worker held are not dealt again") {
  HaltJob job;
  job.halt(false);
  job.core.worker_gone("w1", job.now);
  job.core.tick(job.now);
  CHECK(job.dealt_in_all() == 4);  // w1's tasks wait, undealt
  CHECK(job.effects.to<zpipe::JobEnd>("").empty());
  // Once w2's tasks are done, no worker holds anything: the job ends.
  for (const auto& task : job.dealt("w2")) {
    const zpipe::TaskId id = std::stoull(task.substr(0, task.find(':')));
    job.ack(id, id);
  }
  CHECK(job.dealt_in_all() == 4);
  CHECK(job.effects.to<zpipe::JobEnd>("").size() == 1);
}

TEST_CASE("halt now: the job is cancelled at once; the sink's answer ends it with exit 5") {
  HaltJob job;
  job.halt(true);
  REQUIRE_FALSE(job.effects.to<zpipe::JobEnd>("w1").empty());
  CHECK_FALSE(job.effects.to<zpipe::JobEnd>("w1").front().complete);
  CHECK_FALSE(job.effects.to<zpipe::JobEnd>("").empty());
  job.halt(true);  // a repeated halt changes nothing
  job.core.sink_frame(zpipe::JobEnd{7, false}, job.now);
  REQUIRE(job.core.exit_status());
  CHECK(*job.core.exit_status() == zpipe::exit_halted);
}

TEST_CASE("halt: the manifest carries --halt and, with --resume, the run's token and --resume-failed") {
  zpipe::VentilatorSettings settings = RetryJob::settings(0, 1);
  settings.halt = zpipe::HaltPolicy{zpipe::HaltPolicy::When::now, zpipe::HaltPolicy::On::fail, 0, 250};
  settings.resume = true;
  settings.resume_token = 42;
  settings.resume_failed = true;
  RecordingEffects effects;
  const auto now = std::chrono::steady_clock::time_point{} + 1h;
  zpipe::VentilatorCore core(settings, zpipe::count_source("square", 3), effects, now);
  core.sink_connected(now);
  core.tick(now);
  const auto manifests = effects.to<zpipe::JobManifest>("");
  REQUIRE_FALSE(manifests.empty());
  CHECK(manifests.front().halt == settings.halt);
  CHECK(manifests.front().resume_token == 42);
  CHECK(manifests.front().resume_failed);
}

TEST_CASE("halt for another job is a bad frame; one that comes after every task was acknowledged is ignored") {
  HaltJob job;
  CHECK_THROWS_AS(job.core.sink_frame(zpipe::Halt{8, false, "x"}, job.now), zpipe::codec_error);
  job.ack(1, 4);
  for (const auto& worker : {"w1", "w2"}) job.core.worker_frame(worker, zpipe::Credit{2}, job.now);
  job.core.tick(job.now);
  job.ack(1, 10);
  job.halt(true);
  CHECK_FALSE(job.core.halted());
  CHECK(job.core.complete());
}

namespace {

// Checks that each frame dealt to `peer` has one lease, from the start of the
// run of consecutive ids that peer was dealt up to it, to its last id.
// Returns the longest run.
std::uint64_t check_leases_follow_runs(const RecordingEffects& effects, const std::string& peer) {
  std::uint64_t longest = 0;
  zpipe::TaskId run_first = 0, previous = 0;
  for (const auto& batch : effects.to<zpipe::TaskBatch>(peer)) {
    REQUIRE(batch.tasks.size() == 1);
    const zpipe::TaskId id = batch.tasks.front().id;
    if (previous == 0 || id != previous + 1) run_first = id;
    previous = id;
    REQUIRE(batch.leases.size() == 1);
    CHECK(batch.leases[0].first == run_first);
    CHECK(batch.leases[0].last == id);
    CHECK(batch.leases[0].token == zpipe::lease_token(secret, 7, run_first, id, ""));
    longest = std::max(longest, id - run_first + 1);
  }
  return longest;
}

}  // namespace

TEST_CASE("small frames go to a worker with a deep window several in a row, under one growing lease") {
  UpperJob job(1000, 2);
  job.core.worker_frame("w1", zpipe::Hello{"one", 1024}, job.now);
  job.core.worker_frame("w2", zpipe::Hello{"two", 1024}, job.now);
  job.core.tick(job.now);
  const auto w1 = ids_dealt(job.effects, "w1"), w2 = ids_dealt(job.effects, "w2");
  REQUIRE(w1.size() + w2.size() == 1000);
  CHECK(w1.size() >= 400);  // both workers get a fair part
  CHECK(w2.size() >= 400);
  CHECK(check_leases_follow_runs(job.effects, "w1") == zpipe::VentilatorCore::run_tasks);
  CHECK(check_leases_follow_runs(job.effects, "w2") == zpipe::VentilatorCore::run_tasks);
}

TEST_CASE("frames dealt in a row to a worker that takes bundles go as one message, signed once, a credit per frame") {
  UpperJob job(1000, 2);
  job.core.worker_frame("w1", zpipe::Hello{"one", 300, Kinds{"upper"}, 64}, job.now);
  job.core.worker_frame("w2", zpipe::Hello{"two", 300, Kinds{"upper"}}, job.now);  // one frame per message
  job.core.tick(job.now);
  const auto bundles = job.effects.to<zpipe::TaskBatch>("w1");
  std::uint64_t frames = 0;
  zpipe::TaskId run_first = 0, previous = 0;
  for (const auto& bundle : bundles) {
    CHECK(bundle.frames == bundle.tasks.size());  // batch 1: a task per frame
    CHECK(bundle.frames <= zpipe::VentilatorCore::run_tasks);
    frames += bundle.frames;
    // One lease over the bundle, reaching back to where its run started.
    if (previous == 0 || bundle.tasks.front().id != previous + 1) run_first = bundle.tasks.front().id;
    previous = bundle.tasks.back().id;
    REQUIRE(bundle.leases.size() == 1);
    CHECK(bundle.leases[0].first == run_first);
    CHECK(bundle.leases[0].last == previous);
    CHECK(bundle.leases[0].token == zpipe::lease_token(secret, 7, run_first, previous, ""));
  }
  CHECK(std::any_of(bundles.begin(), bundles.end(), [](const auto& b) { return b.frames == 64; }));
  // Each frame of a bundle costs a credit: both windows are spent, no more.
  CHECK(frames == 300);
  CHECK(ids_dealt(job.effects, "w1").size() == 300);
  for (const auto& frame : job.effects.to<zpipe::TaskBatch>("w2")) CHECK(frame.frames == 1);
  CHECK(ids_dealt(job.effects, "w2").size() == 300);
  // Credits for 64 frames bring 64 tasks more.
  job.core.worker_frame("w1", zpipe::Credit{64}, job.now);
  job.core.tick(job.now);
  CHECK(ids_dealt(job.effects, "w1").size() == 364);
}

TEST_CASE("a bundle holds no more frames than the worker's hello allows, nor than a run") {
  const std::uint32_t allowed = GENERATE(2u, 5u, 1000u);
  UpperJob job(500, 1);
  job.core.worker_frame("w1", zpipe::Hello{"one", 1024, Kinds{"upper"}, allowed}, job.now);
  job.core.tick(job.now);
  const auto bundles = job.effects.to<zpipe::TaskBatch>("w1");
  REQUIRE_FALSE(bundles.empty());
  for (const auto& bundle : bundles)
    CHECK(bundle.frames <= std::min<std::uint64_t>(allowed, zpipe::VentilatorCore::run_tasks));
  CHECK(ids_dealt(job.effects, "w1").size() == 500);
}

namespace {

// Deals a job of `tasks` tasks from `source` to w1, whose connection is gone
// (every send to it fails), and w2, both taking bundles: w1 must be lost,
// and w2 dealt every task once.
void check_all_go_past_a_lost_worker(zpipe::VentilatorSettings settings, std::unique_ptr<zpipe::TaskSource> source,
                                     std::uint64_t tasks) {
  RecordingEffects effects;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  zpipe::VentilatorCore core(std::move(settings), std::move(source), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, tasks, 0, secret}, now);
  effects.unreachable = {"w1"};
  core.worker_frame("w1", zpipe::Hello{"one", 1024, Kinds{"upper"}, 64}, now);
  core.worker_frame("w2", zpipe::Hello{"two", 1024, Kinds{"upper"}, 64}, now);
  core.tick(now);
  CHECK(core.workers_lost() == 1);
  auto w2 = ids_dealt(effects, "w2");
  std::sort(w2.begin(), w2.end());
  std::vector<zpipe::TaskId> all(tasks);
  std::iota(all.begin(), all.end(), zpipe::TaskId{1});
  CHECK(w2 == all);
  CHECK(core.dealt() == tasks);
}

}  // namespace

TEST_CASE("a bundle that cannot be sent goes to another worker at once, and counts no loss against its tasks") {
  zpipe::VentilatorSettings settings = UpperJob::settings(2);
  settings.max_attempts = 2;  // one loss would make each task a suspect, dealt alone: w2 would get none in bundles
  check_all_go_past_a_lost_worker(settings, zpipe::count_source("upper", 200), 200);
}

TEST_CASE("a bundle of large payloads stays well under the frame limit: frames that would not fit go in another") {
  // 40 tasks of 600 KiB: one frame each is 0.6 MiB, all 40 in one bundle
  // would be 24 MiB, past the 16 MiB the worker's socket takes.
  constexpr std::size_t bytes = 600 * 1024;
  RecordingEffects effects;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  zpipe::VentilatorCore core(UpperJob::settings(1), std::make_unique<WideSource>(40, bytes), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, 40, 0, secret}, now);
  core.worker_frame("w1", zpipe::Hello{"one", 1024, Kinds{"upper"}, 64}, now);
  core.tick(now);
  CHECK(effects.largest_to_workers < zpipe::DecodeLimits{}.max_frame_bytes);
  CHECK(effects.largest_to_workers <= zpipe::VentilatorCore::bundle_bytes_at_most + 1024);
  const auto frames = effects.to<zpipe::TaskBatch>("w1");
  CHECK(ids_dealt(effects, "w1").size() == 40);
  // Still bundled: fewer messages than frames.
  CHECK(frames.size() < 40);
  std::uint64_t credits = 0;
  for (const auto& frame : frames) credits += frame.frames;
  CHECK(credits == 40);
}

TEST_CASE("a frame of large payloads stops short of --batch, well under the frame limit") {
  // 40 tasks of 1 MiB less a byte (the longest line), --batch 32: 32 MiB in
  // one frame, past the 16 MiB the worker's socket takes, which would drop
  // the connection every time the frame was dealt. No bundles.
  const auto [bytes, batch] =
      GENERATE(table<std::size_t, std::uint32_t>({{1024 * 1024 - 1, 32}, {600 * 1024, 40}, {100, 1024}}));
  CAPTURE(bytes, batch);
  zpipe::VentilatorSettings settings = UpperJob::settings(1);
  settings.batch = batch;
  RecordingEffects effects;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  zpipe::VentilatorCore core(settings, std::make_unique<WideSource>(40, bytes), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, 40, 0, secret}, now);
  core.worker_frame("w1", zpipe::Hello{"one", 1024, Kinds{"upper"}}, now);
  core.tick(now);
  CHECK(effects.largest_to_workers < zpipe::DecodeLimits{}.max_frame_bytes);
  CHECK(effects.largest_to_workers <= zpipe::VentilatorCore::frame_bytes_at_most + bytes + 1024);
  CHECK(ids_dealt(effects, "w1").size() == 40);
  // Small payloads still fill a frame to --batch.
  if (bytes == 100) CHECK(effects.to<zpipe::TaskBatch>("w1").front().tasks.size() == 40);
}

TEST_CASE("a frame of the most numbers a frame may hold is not cut short by the byte cap") {
  zpipe::VentilatorSettings settings = Job::settings();
  settings.batch = zpipe::DecodeLimits{}.max_items;
  RecordingEffects effects;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  zpipe::VentilatorCore core(settings, zpipe::count_source("square", settings.batch), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, settings.batch, 0, secret}, now);
  core.worker_frame("w1", zpipe::Hello{"one", 4}, now);
  core.tick(now);
  const auto frames = effects.to<zpipe::TaskBatch>("w1");
  REQUIRE_FALSE(frames.empty());
  CHECK(frames.front().tasks.size() == settings.batch);
}

TEST_CASE("a bundle sent early for its size that cannot be sent: the frame that did not fit goes to another worker") {
  check_all_go_past_a_lost_worker(UpperJob::settings(2), std::make_unique<WideSource>(40, 600 * 1024), 40);
}

TEST_CASE("workers with shallow windows (slow tasks) are dealt small frames in strict turns") {
  UpperJob job(8, 2);
  job.core.worker_frame("w1", zpipe::Hello{"one", 4}, job.now);
  job.core.worker_frame("w2", zpipe::Hello{"two", 4}, job.now);
  job.core.tick(job.now);
  CHECK(ids_dealt(job.effects, "w1") == std::vector<zpipe::TaskId>{1, 3, 5, 7});
  CHECK(ids_dealt(job.effects, "w2") == std::vector<zpipe::TaskId>{2, 4, 6, 8});
  CHECK(check_leases_follow_runs(job.effects, "w1") == 1);
}

TEST_CASE("keep-order: the ventilator deals no id more than the sink's reorder buffer past its oldest unacknowledged") {
  zpipe::VentilatorSettings settings = Job::settings();
  settings.batch = 2;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::VentilatorCore core(settings, zpipe::count_source("square", 100), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, 100, 0, secret, 4}, now);
  core.worker_frame("w1", zpipe::Hello{"one", 64}, now);
  core.tick(now);
  // Task 1 and the 4 the buffer holds behind it, whatever the credits.
  CHECK(ids_dealt(effects, "w1") == std::vector<zpipe::TaskId>{1, 2, 3, 4, 5});
  CHECK(core.read() == 5);
  // Acks of tasks behind task 1 move nothing: the sink holds them for it.
  core.sink_frame(zpipe::Ack{7, {{2, 5}}}, now);
  core.tick(now);
  CHECK(core.read() == 5);
  // Task 1's frees the window to 6 + 4.
  core.sink_frame(zpipe::Ack{7, {{1, 1}}}, now);
  core.tick(now);
  CHECK(core.read() == 10);
  CHECK(ids_dealt(effects, "w1").back() == 10);
  // A sink restarted with another buffer says so; without one the window is --max-in-flight.
  core.sink_frame(zpipe::JobAccepted{7, 100, 10, secret, 0}, now);
  core.sink_frame(zpipe::Ack{7, {{6, 10}}}, now);
  core.tick(now);
  CHECK(core.read() == 100);
}

TEST_CASE("status: retried counts the failed attempts the sink asked for again") {
  RetryJob job(4, 2, 1);
  job.hello("w1", 4);
  CHECK(job.core.status(job.now).retried == 0);
  job.retry({1}, {1});
  CHECK(job.core.status(job.now).retried == 1);
}

TEST_CASE("a task timeout covers every run of a frame, also runs below its first id (a retry dealt with tasks dealt again)") {
  zpipe::VentilatorSettings settings;
  settings.job = 7;
  settings.batch = 4;
  settings.min_workers = 2;
  settings.retries = 1;
  settings.worker_timeout = 60s;
  settings.task_timeout = 1000ms;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::VentilatorCore core(settings, zpipe::count_source("square", 8), effects, now);
  core.tick(now);
  core.sink_connected(now);
  core.sink_frame(zpipe::JobAccepted{7, 8, 0, secret}, now);
  core.worker_frame("w1", zpipe::Hello{"w1", 1}, now);
  core.worker_frame("w2", zpipe::Hello{"w2", 1}, now);
  core.tick(now);
  REQUIRE(ids_dealt(effects, "w1") == std::vector<zpipe::TaskId>{1, 2, 3, 4});
  REQUIRE(ids_dealt(effects, "w2") == std::vector<zpipe::TaskId>{5, 6, 7, 8});
  core.sink_frame(zpipe::Retry{7, {8}, {1}}, now);  // w2's attempt at 8 failed: run it again elsewhere
  core.worker_gone("w1", now);                        // 1-4 to deal again
  core.worker_frame("w3", zpipe::Hello{"w3", 1}, now);
  core.tick(now);
  REQUIRE(ids_dealt(effects, "w3") == std::vector<zpipe::TaskId>{8, 1, 2, 3});  // one frame, two runs
  now += 1100ms;
  core.worker_frame("w2", zpipe::Credit{0}, now);
  core.worker_frame("w3", zpipe::Credit{0}, now);
  core.tick(now);
  CHECK(count_containing(effects.logged, "worker w3 held 4 task(s) past --task-timeout") == 1);
}
