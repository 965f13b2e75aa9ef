// Executor: real compute threads and the inproc wake socket, as worker.cpp
// uses them. A task kind that blocks on a gate the test opens decides which
// frames a thread has taken, so every ordering below is deterministic; each
// wait is bounded by a deadline.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "executor.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/sockets.hpp"

namespace {

using namespace std::chrono_literals;
using zpipe::FinishedWork;
using zpipe::TaskId;
using Clock = std::chrono::steady_clock;

constexpr auto patience = 20s;  // far longer than any step needs

// Tasks of kind "block" wait here until the test opens the gate.
class Gate {
 public:
  void enter() {
    std::lock_guard lock(mutex_);
    ++entered_;
    changed_.notify_all();
  }
  void pass() {
    std::unique_lock lock(mutex_);
    ++entered_;
    changed_.notify_all();
    changed_.wait_for(lock, patience, [&] { return open_; });
  }
  /// Returns whether `threads` tasks are waiting at the gate in time.
  bool wait_entered(int tasks) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, patience, [&] { return entered_ >= tasks; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int entered_ = 0;
  bool open_ = false;
};

std::thread::id caller_thread;  // the test's thread, set by the test that asks
std::atomic<int> function_calls{0};
std::atomic<int> shortcut_calls{0};

zpipe::KindRegistry test_kinds(Gate& gate) {
  zpipe::KindRegistry kinds;
  kinds.add("echo", [](const zpipe::Value& payload) { return payload; });
  // Runs until its job is cancelled (bounded by patience), as exec does.
  kinds.add("until_cancelled", [&gate](const zpipe::Value& payload) {
    gate.enter();
    const auto deadline = Clock::now() + patience;
    while (!zpipe::task_cancelled() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    return payload;
  });
  kinds.add("block", [&gate](const zpipe::Value& payload) {
    gate.pass();
    return payload;
  });
  // square twice over: with its integer shortcut, and without one.
  const auto builtin = zpipe::builtin_kinds();
  kinds.add("square", *builtin.find("square"), builtin.find_integer("square"));
  kinds.add("square_without_shortcut", *builtin.find("square"));
  // 1 when run on the thread that submitted it (see caller_thread), else 0;
  // with an integer shortcut (so quick by contract), and without one.
  const auto on_caller = [](const zpipe::Value&) -> zpipe::Value {
    return std::int64_t{std::this_thread::get_id() == caller_thread ? 1 : 0};
  };
  kinds.add("on_caller", on_caller, [](std::int64_t, std::int64_t& result) {
    result = std::this_thread::get_id() == caller_thread ? 1 : 0;
    return true;
  });
  kinds.add("on_caller_without_shortcut", on_caller);
  kinds.add("ten_ms", [](const zpipe::Value& payload) {
    std::this_thread::sleep_for(10ms);
    return payload;
  });
  // Counts which way each task went; the shortcut declines negative numbers.
  kinds.add(
      "double",
      [](const zpipe::Value& payload) -> zpipe::Value {
        ++function_calls;
        return 2 * zpipe::as_integer(payload).value();
      },
      [](std::int64_t payload, std::int64_t& result) {
        ++shortcut_calls;
        result = 2 * payload;
        return payload >= 0;
      });
  return kinds;
}

// `frames` above 1: a bundle (PROTOCOL.md §6.2.10) standing for that many.
zmq::message_t task_frame(zpipe::JobId job, const std::string& kind, std::vector<TaskId> ids,
                          std::uint32_t frames = 1) {
  zpipe::TaskBatch batch{job, kind, {}};
  batch.frames = frames;
  for (TaskId id : ids) batch.tasks.push_back({id, zpipe::Value{"payload " + std::to_string(id)}});
  const std::string frame = zpipe::encode(zpipe::Message{batch});
  return zmq::message_t(frame.data(), frame.size());
}

zmq::message_t integer_frame(const std::string& kind, const std::vector<std::pair<TaskId, zpipe::Value>>& tasks,
                             std::vector<std::uint32_t> attempts = {}) {
  zpipe::TaskBatch batch{42, kind, {}, {}, std::move(attempts)};
  for (const auto& [id, payload] : tasks) batch.tasks.push_back({id, payload});
  const std::string frame = zpipe::encode(zpipe::Message{batch});
  return zmq::message_t(frame.data(), frame.size());
}

// The executor with its wake socket, and what it has finished so far.
struct Rig {
  explicit Rig(unsigned threads) : kinds(test_kinds(gate)) {
    static std::atomic<int> rigs{0};
    endpoint = "inproc://executor-test-" + std::to_string(rigs++);
    wake.set(zmq::sockopt::linger, 0);
    wake.bind(endpoint);
    executor.emplace(context, kinds, "test-worker", threads, endpoint);
  }
  ~Rig() {
    gate.open();  // a failed check must not leave a thread at the gate
    executor.reset();
  }

  /// Runs one fast frame (of epoch 0), so the executor knows its frames
  /// are fast and lets a thread take several queued frames at once.
  void prime_fast() {
    std::vector<zmq::message_t> frames;
    frames.push_back(task_frame(1, "echo", {999}));
    submit(0, std::move(frames));
    finish_frames(1);
  }

  void submit(std::uint64_t epoch, std::vector<zmq::message_t> frames) {
    executor->submit(frames, epoch);
    REQUIRE(frames.empty());
  }

  /// Gathers finished work until `frames` task frames in all are done, or fails.
  void finish_frames(std::uint32_t frames) {
    const auto deadline = Clock::now() + patience;
    for (;;) {
      std::vector<zmq::message_t> parts;
      while (zpipe::receive_parts(wake, parts) > 0) {
      }
      for (auto& work : executor->take_finished()) finished.push_back(std::move(work));
      if (task_frames() >= frames) break;
      REQUIRE(Clock::now() < deadline);
      zmq::pollitem_t items[] = {{wake.handle(), 0, ZMQ_POLLIN, 0}};
      zpipe::poll_sockets(items, 100ms);
    }
    CHECK(task_frames() == frames);
  }

  [[nodiscard]] std::uint32_t task_frames(std::optional<std::uint64_t> epoch = std::nullopt) const {
    std::uint32_t frames = 0;
    for (const auto& work : finished)
      if (!epoch || work.epoch == *epoch) frames += work.task_frames;
    return frames;
  }

  /// Every result, by task id, with the epoch of the work it came in.
  [[nodiscard]] std::multimap<TaskId, std::pair<zpipe::Result, std::uint64_t>> results() const {
    std::multimap<TaskId, std::pair<zpipe::Result, std::uint64_t>> all;
    for (const auto& work : finished) {
      if (work.results_frame.empty()) continue;
      const auto batch = std::get<zpipe::ResultBatch>(zpipe::decode(work.results_frame));
      CHECK(batch.worker == "test-worker");
      for (const auto& result : batch.results) all.emplace(result.id, std::pair{result, work.epoch});
    }
    return all;
  }

  [[nodiscard]] std::set<TaskId> ids(std::uint64_t epoch) const {
    std::set<TaskId> found;
    for (const auto& [id, result] : results())
      if (result.second == epoch) found.insert(id);
    return found;
  }

  Gate gate;
  zpipe::KindRegistry kinds;
  zmq::context_t context{1};
  zmq::socket_t wake{context, zmq::socket_type::pull};
  std::string endpoint;
  std::optional<zpipe::Executor> executor;
  std::vector<FinishedWork> finished;
};

}  // namespace

TEST_CASE("executor: results carry their frames' epoch and count the task frames", "[executor]") {
  const unsigned threads = GENERATE(1u, 3u);
  CAPTURE(threads);
  Rig rig(threads);
  std::vector<zmq::message_t> frames;
  TaskId next = 1;
  for (std::size_t size = 1; size <= 6; ++size) {
    std::vector<TaskId> ids;
    for (std::size_t i = 0; i < size; ++i) ids.push_back(next++);
    frames.push_back(task_frame(42, "echo", ids));
  }
  rig.submit(7, std::move(frames));
  rig.finish_frames(6);

  for (const auto& work : rig.finished) CHECK(work.epoch == 7);
  const auto results = rig.results();
  CHECK(results.size() == next - 1);
  for (TaskId id = 1; id < next; ++id) {
    CAPTURE(id);
    REQUIRE(results.count(id) == 1);
    const auto& [result, epoch] = results.find(id)->second;
    CHECK(result.ok);
    CHECK(result.value == zpipe::Value{"payload " + std::to_string(id)});
  }
  for (const auto& work : rig.finished) {
    const auto batch = std::get<zpipe::ResultBatch>(zpipe::decode(work.results_frame));
    CHECK(batch.job == 42);
  }
  CHECK(rig.executor->largest_frame() == 6);
  CHECK(rig.executor->rejected() == 0);
  CHECK(rig.executor->queued() == 0);
}

TEST_CASE("executor: a bundle returns a credit for each frame it stands for, and is timed per frame", "[executor]") {
  Rig rig(1);
  std::vector<zmq::message_t> frames;
  frames.push_back(task_frame(42, "echo", {1, 2, 3, 4, 5, 6, 7, 8}, 8));  // 8 frames of a task
  frames.push_back(task_frame(42, "echo", {9, 10, 11, 12}, 2));            // 2 frames of 2 tasks
  frames.push_back(task_frame(42, "echo", {13}));
  rig.submit(1, std::move(frames));
  rig.finish_frames(11);
  CHECK(rig.results().size() == 13);
  CHECK(rig.executor->largest_frame() == 2);  // tasks per task frame, not per message
}

TEST_CASE("executor: each result echoes its task's attempt, also across frames merged into one", "[executor]") {
  Rig rig(1);
  std::vector<zmq::message_t> frames;
  frames.push_back(task_frame(42, "echo", {1, 2}));  // first attempts: no attempts field
  zpipe::TaskBatch retried{42, "echo", {{3, zpipe::Value{}}, {4, zpipe::Value{}}}, {}, {3, 1}};
  const std::string frame = zpipe::encode(zpipe::Message{retried});
  frames.emplace_back(frame.data(), frame.size());
  rig.submit(1, std::move(frames));
  rig.finish_frames(2);
  const auto results = rig.results();
  REQUIRE(results.size() == 4);
  CHECK(results.find(1)->second.first.attempt == 1);
  CHECK(results.find(2)->second.first.attempt == 1);
  CHECK(results.find(3)->second.first.attempt == 3);
  CHECK(results.find(4)->second.first.attempt == 1);
}

TEST_CASE("executor: many frames on many threads each finish exactly once", "[executor]") {
  Rig rig(4);
  TaskId next = 1;
  for (int burst = 0; burst < 10; ++burst) {
    std::vector<zmq::message_t> frames;
    for (int i = 0; i < 20; ++i) {
      frames.push_back(task_frame(1, "echo", {next, next + 1, next + 2}));
      next += 3;
    }
    rig.submit(1, std::move(frames));
    CHECK(rig.executor->largest_frame() <= 3);
  }
  rig.finish_frames(200);
  const auto results = rig.results();
  CHECK(results.size() == next - 1);
  for (TaskId id = 1; id < next; ++id) REQUIRE(results.count(id) == 1);
  CHECK(rig.executor->largest_frame() == 3);
  CHECK(rig.executor->seconds_per_frame() > 0);
}

TEST_CASE("executor: bad task frames finish as failed results or rejections", "[executor]") {
  struct Row {
    const char* what;
    std::string frame;
    bool results;  // a failed result for task 5; otherwise rejected without results
  };
  const auto row = GENERATE(values<Row>({
      {"an unknown kind", std::string(zpipe::view(task_frame(3, "no-such-kind", {5}))), true},
      {"not msgpack", std::string("\xc1\xc1\xc1", 3), false},
      {"empty", std::string(), false},
      {"not a tasks message", zpipe::encode(zpipe::Message{zpipe::Credit{3}}), false},
  }));
  CAPTURE(row.what);
  Rig rig(2);
  std::vector<zmq::message_t> frames;
  frames.emplace_back(row.frame.data(), row.frame.size());
  frames.push_back(task_frame(3, "echo", {6}));  // the next frame still runs
  rig.submit(1, std::move(frames));
  rig.finish_frames(2);

  const auto results = rig.results();
  REQUIRE(results.count(6) == 1);
  CHECK(results.find(6)->second.first.ok);
  if (row.results) {
    REQUIRE(results.count(5) == 1);
    const auto& failed = results.find(5)->second.first;
    CHECK_FALSE(failed.ok);
    const auto reason = zpipe::as_text(failed.value);
    CHECK_THAT(reason, Catch::Contains("no-such-kind") && Catch::Contains("block, double, echo, on_caller"));
    CHECK(rig.executor->rejected() == 0);
  } else {
    CHECK(results.size() == 1);
    CHECK(rig.executor->rejected() == 1);
  }
}

TEST_CASE("executor: drop_queued drops the frames not started, and they never run", "[executor]") {
  const unsigned threads = GENERATE(1u, 2u);
  CAPTURE(threads);
  Rig rig(threads);
  // Every thread takes one blocking frame; what comes after waits in the queue.
  std::vector<zmq::message_t> blocking;
  for (unsigned i = 0; i < threads; ++i) blocking.push_back(task_frame(1, "block", {100 + i}));
  rig.submit(1, std::move(blocking));
  REQUIRE(rig.gate.wait_entered(static_cast<int>(threads)));

  std::vector<zmq::message_t> queued;
  for (TaskId id = 1; id <= 5; ++id) queued.push_back(task_frame(1, "echo", {id}));
  rig.submit(1, std::move(queued));
  CHECK(rig.executor->queued() == 5);
  CHECK(rig.executor->drop_queued() == 5);
  CHECK(rig.executor->queued() == 0);
  CHECK(rig.executor->drop_queued() == 0);

  rig.gate.open();
  rig.finish_frames(threads);
  // Frames of the next epoch run, and none of the dropped ones come back
  // before or after them.
  rig.submit(2, [] {
    std::vector<zmq::message_t> next;
    next.push_back(task_frame(1, "echo", {50}));
    return next;
  }());
  rig.finish_frames(threads + 1);
  CHECK(rig.task_frames(1) == threads);
  CHECK(rig.task_frames(2) == 1);
  std::set<TaskId> started;
  for (unsigned i = 0; i < threads; ++i) started.insert(100 + i);
  CHECK(rig.ids(1) == started);
  CHECK(rig.ids(2) == std::set<TaskId>{50});
}

// The past bug: frames a thread had already taken survived drop_queued and
// were counted as credits of the new epoch.
TEST_CASE("executor: frames a thread took before drop_queued finish under their own epoch", "[executor]") {
  Rig rig(1);
  rig.prime_fast();
  // One submit: the only thread takes both frames at once (they are fast),
  // then blocks on the first.
  std::vector<zmq::message_t> frames;
  frames.push_back(task_frame(1, "block", {1}));
  frames.push_back(task_frame(1, "echo", {2}));
  rig.submit(1, std::move(frames));
  REQUIRE(rig.gate.wait_entered(1));
  CHECK(rig.executor->drop_queued() == 0);  // both are taken already

  std::vector<zmq::message_t> next;
  next.push_back(task_frame(1, "echo", {3}));
  rig.submit(2, std::move(next));
  rig.gate.open();
  rig.finish_frames(4);

  CHECK(rig.task_frames(1) == 2);
  CHECK(rig.task_frames(2) == 1);
  CHECK(rig.ids(1) == std::set<TaskId>{1, 2});
  CHECK(rig.ids(2) == std::set<TaskId>{3});
}

TEST_CASE("executor: frames of two epochs are never merged into one FinishedWork", "[executor]") {
  Rig rig(1);
  std::vector<zmq::message_t> first;
  first.push_back(task_frame(1, "block", {1}));
  rig.submit(1, std::move(first));
  REQUIRE(rig.gate.wait_entered(1));
  // While the thread waits, frames of epochs 1, 2 and 3 queue up; it then
  // takes them all in one pass.
  for (const auto& [epoch, ids] : std::vector<std::pair<std::uint64_t, std::vector<TaskId>>>{
           {1, {2, 3}}, {2, {4}}, {2, {5, 6}}, {3, {7}}}) {
    std::vector<zmq::message_t> frames;
    frames.push_back(task_frame(1, "echo", ids));
    rig.submit(epoch, std::move(frames));
  }
  REQUIRE(rig.executor->queued() == 4);
  rig.gate.open();
  rig.finish_frames(5);

  CHECK(rig.task_frames(1) == 2);
  CHECK(rig.task_frames(2) == 2);
  CHECK(rig.task_frames(3) == 1);
  CHECK(rig.ids(1) == std::set<TaskId>{1, 2, 3});
  CHECK(rig.ids(2) == std::set<TaskId>{4, 5, 6});
  CHECK(rig.ids(3) == std::set<TaskId>{7});
}

// Frames whose time is not known yet (or that are slow) are taken one at a
// time: the second thread runs the echo while the first is blocked. Before,
// one thread took both and the echo waited behind the block.
TEST_CASE("executor: a slow frame does not hold the next one on its thread", "[executor]") {
  Rig rig(2);
  std::vector<zmq::message_t> frames;
  frames.push_back(task_frame(1, "block", {1}));
  frames.push_back(task_frame(1, "echo", {2}));
  rig.submit(1, std::move(frames));
  REQUIRE(rig.gate.wait_entered(1));
  rig.finish_frames(1);  // the echo, while the block still waits
  CHECK(rig.ids(1) == std::set<TaskId>{2});
  rig.gate.open();
  rig.finish_frames(2);
}

// --halt now / a cancel: job_end (not complete) cancels frames of older
// epochs. A running task sees task_cancelled() and its result is dropped;
// frames not started are not run; frames of the new epoch run as usual.
TEST_CASE("executor: cancel_below stops running tasks and drops their results", "[executor]") {
  Rig rig(1);
  std::vector<zmq::message_t> frames;
  frames.push_back(task_frame(1, "until_cancelled", {1, 2}));
  rig.submit(1, std::move(frames));
  REQUIRE(rig.gate.wait_entered(1));
  const auto cancelled_at = Clock::now();
  rig.executor->cancel_below(2);
  rig.finish_frames(1);
  CHECK(Clock::now() - cancelled_at < 5s);  // not the task's patience
  CHECK(rig.results().empty());             // task 1 cancelled, task 2 never run
  std::vector<zmq::message_t> next;
  next.push_back(task_frame(2, "echo", {3}));
  rig.submit(2, std::move(next));
  rig.finish_frames(2);
  CHECK(rig.ids(2) == std::set<TaskId>{3});
}

TEST_CASE("executor: an integer shortcut runs frames of integer payloads; what it declines, and other payloads, go to the kind's function", "[executor]") {
  Rig rig(1);
  function_calls = 0;
  shortcut_calls = 0;
  std::vector<zmq::message_t> frames;
  frames.push_back(integer_frame("double", {{1, zpipe::Value{5}}, {2, zpipe::Value{-3}}, {3, zpipe::Value{7}}}, {1, 2, 1}));
  frames.push_back(integer_frame("double", {{4, zpipe::Value{"8"}}}));  // a text payload: no shortcut for the frame
  rig.submit(1, std::move(frames));
  rig.finish_frames(2);
  CHECK(shortcut_calls == 3);
  CHECK(function_calls == 2);  // -3, declined, and "8"
  const auto results = rig.results();
  REQUIRE(results.size() == 4);
  const std::vector<std::int64_t> doubled = {10, -6, 14, 16};
  for (TaskId id = 1; id <= 4; ++id) {
    CAPTURE(id);
    const zpipe::Result& result = results.find(id)->second.first;
    CHECK(result.ok);
    CHECK(result.value == zpipe::Value{doubled[id - 1]});
    CHECK(result.attempt == (id == 2 ? 2u : 1u));
  }
}

TEST_CASE("executor: square with its shortcut sends the results frame square without it sends, byte for byte", "[executor]") {
  Rig rig(1);
  // Small and large numbers, both signs, an overflow both ways, a text payload
  // and one that is no number.
  const std::vector<std::pair<TaskId, zpipe::Value>> integers = {
      {1, zpipe::Value{0}},          {2, zpipe::Value{-7}},
      {3, zpipe::Value{3037000499}}, {4, zpipe::Value{3037000500}},
      {5, zpipe::Value{std::numeric_limits<std::int64_t>::min()}}, {6, zpipe::Value{-3037000499}}};
  const std::vector<std::pair<TaskId, zpipe::Value>> mixed = {{7, zpipe::Value{12}}, {8, zpipe::Value{"9"}}, {9, zpipe::Value{"x"}}};
  for (const auto* tasks : {&integers, &mixed}) {
    std::vector<std::string> sent;
    for (const std::string kind : {"square", "square_without_shortcut"}) {
      rig.finished.clear();
      std::vector<zmq::message_t> frames;
      frames.push_back(integer_frame(kind, *tasks));
      rig.submit(1, std::move(frames));
      rig.finish_frames(1);
      REQUIRE(rig.finished.size() == 1);
      sent.push_back(rig.finished.front().results_frame);
    }
    CHECK(sent[0] == sent[1]);
  }
  // (rig.finished holds the mixed frame's run now.)
  const auto mixed_results = rig.results();
  CHECK(mixed_results.find(8)->second.first.value == zpipe::Value{81});
  CHECK_FALSE(mixed_results.find(9)->second.first.ok);
  // An overflow is a failure in square's own words, as square without the shortcut says it.
  rig.finished.clear();
  std::vector<zmq::message_t> frames;
  frames.push_back(integer_frame("square", integers));
  rig.submit(1, std::move(frames));
  rig.finish_frames(1);
  const auto results = rig.results();
  CHECK(results.find(3)->second.first.value == zpipe::Value{std::int64_t{3037000499} * 3037000499});
  for (const TaskId overflowing : {4, 5}) {
    const zpipe::Result& result = results.find(overflowing)->second.first;
    CHECK_FALSE(result.ok);
    CHECK_THAT(std::get<std::string>(result.value), Catch::Contains("overflows a 64-bit integer"));
  }
}

TEST_CASE("executor: with one thread, a burst of quick frames of kinds with a shortcut runs on the caller's thread; others, slow or unknown ones, and any with more threads, on a compute thread", "[executor]") {
  const unsigned threads = GENERATE(1u, 2u);
  CAPTURE(threads);
  caller_thread = std::this_thread::get_id();
  Rig rig(threads);
  const auto ran_on_caller = [&](TaskId id, const std::string& kind = "on_caller") {
    std::vector<zmq::message_t> frames;
    frames.push_back(task_frame(1, kind, {id}));
    rig.submit(0, std::move(frames));
    rig.finish_frames(rig.task_frames() + 1);
    return rig.results().find(id)->second.first.value == zpipe::Value{std::int64_t{1}};
  };
  // The first frame's time is not known yet: a compute thread runs it.
  CHECK_FALSE(ran_on_caller(1));
  // Now it is, and quick (a pass that a loaded machine stretched past 2 ms
  // is followed by quick ones until the running mean says so).
  bool any_on_caller = false;
  for (TaskId id = 100; id < 120 && !any_on_caller; ++id) any_on_caller = ran_on_caller(id);
  CHECK(any_on_caller == (threads == 1));
  // A kind without a shortcut is not known to be quick, whatever came before.
  CHECK_FALSE(ran_on_caller(200, "on_caller_without_shortcut"));
  // A frame of 10 ms takes the running mean past what the caller may spend
  // (2 ms a burst): the next frames go to a compute thread again.
  std::vector<zmq::message_t> frames;
  frames.push_back(task_frame(1, "ten_ms", {3}));
  rig.submit(0, std::move(frames));
  rig.finish_frames(rig.task_frames() + 1);
  CHECK_FALSE(ran_on_caller(4));
}
