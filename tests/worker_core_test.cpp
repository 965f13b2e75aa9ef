// WorkerCore without sockets or clocks: a fake WorkerEffects records what it
// sends, and time is passed in.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "worker_core.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"

namespace {

using namespace std::chrono_literals;
using zpipe::Credit;
using zpipe::Hello;
using zpipe::WorkerCore;

const WorkerCore::TimePoint t0 = WorkerCore::TimePoint{} + 1h;

class FakeEffects final : public zpipe::WorkerEffects {
 public:
  bool send_to_ventilator(std::string_view frame) override {
    if (!connected) return false;
    sent.push_back(zpipe::decode(frame));
    return true;
  }
  bool connected = true;  // false: sends fail, as a DEALER with ZMQ_IMMEDIATE and no connection
  std::size_t drop_queued() override {
    ++drops;
    return queued_to_drop;
  }
  void log(std::string_view line) override { lines.emplace_back(line); }

  /// Returns and forgets what was sent.
  std::vector<zpipe::Message> take() { return std::exchange(sent, {}); }

  std::vector<zpipe::Message> sent;
  std::vector<std::string> lines;
  int drops = 0;
  std::size_t queued_to_drop = 0;
};

using Sent = std::vector<zpipe::Message>;

zpipe::WorkerSettings settings(unsigned threads = 2, bool once = false) { return {"w1", threads, once}; }

}  // namespace

TEST_CASE("worker core: says hello with a window of two frames per thread", "[worker_core]") {
  const unsigned threads = GENERATE(1u, 2u, 8u);
  FakeEffects effects;
  WorkerCore core(settings(threads), effects);
  CHECK_FALSE(core.introduced());
  CHECK(core.next_deadline() == WorkerCore::TimePoint::max());
  core.tick(t0, 2 * threads, true);
  CHECK(effects.sent.empty());  // nothing before the handshake

  core.ventilator_connected(t0);
  CHECK(effects.take() == Sent{Hello{"w1", 2 * threads}});
  CHECK(core.introduced());
  CHECK(core.epoch() == 1);
  CHECK(effects.drops == 1);  // whatever was queued before belongs to no one now
  CHECK(core.credits().window() == 2 * threads);
  CHECK(core.next_deadline() == t0 + WorkerCore::keepalive_interval);
}

TEST_CASE("worker core: hello lists the kinds it was given, every time it is said", "[worker_core]") {
  FakeEffects effects;
  zpipe::WorkerSettings with_kinds = settings();
  with_kinds.kinds = std::vector<std::string>{"fail", "square", "upper"};
  WorkerCore core(with_kinds, effects);
  core.ventilator_connected(t0);
  const Hello expected{"w1", 4, std::vector<std::string>{"fail", "square", "upper"}};
  CHECK(effects.take() == Sent{expected});
  core.ventilator_frame(zpipe::HelloAgain{}, t0 + 1s);
  CHECK(effects.take() == Sent{expected});
}

TEST_CASE("worker core: finished frames become credits", "[worker_core]") {
  struct Row {
    const char* why;
    std::uint32_t finished, wanted;
    bool idle;
    Sent sent;
  };
  // Two threads: a window of 4.
  const auto row = GENERATE(values<Row>({
      {"all back, idle", 4, 4, true, {Credit{4}}},
      {"one back, idle", 1, 4, true, {Credit{1}}},
      {"one back, busy: a quarter of 4", 1, 4, false, {Credit{1}}},
      {"one back, more wanted", 1, 6, false, {Credit{3}}},
      {"growth is capped at doubling", 4, 100, true, {Credit{8}}},
      {"nothing back, nothing wanted", 0, 4, true, {}},
  }));
  CAPTURE(row.why);
  FakeEffects effects;
  WorkerCore core(settings(2), effects);
  core.ventilator_connected(t0);
  effects.take();
  core.finished(row.finished, core.epoch());
  core.tick(t0 + 1ms, row.wanted, row.idle);
  CHECK(effects.take() == row.sent);
}

TEST_CASE("worker core: a credit that cannot be sent is still owed, and goes out with the next", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(1), effects);  // a window of 2
  core.ventilator_connected(t0);
  effects.take();
  core.finished(1, core.epoch());
  effects.connected = false;
  core.tick(t0 + 1ms, 2, true);
  CHECK(effects.take().empty());
  core.finished(1, core.epoch());
  effects.connected = true;
  core.tick(t0 + 2ms, 2, true);
  CHECK(effects.take() == Sent{Credit{2}});
  CHECK(core.credits().window() == 2);
}

TEST_CASE("worker core: a hello that cannot be sent is tried again until it goes out", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(1), effects);
  effects.connected = false;
  core.ventilator_connected(t0);
  CHECK_FALSE(core.introduced());
  CHECK(core.next_deadline() == t0 + WorkerCore::hello_retry);
  core.tick(t0 + 5ms, 2, true);
  CHECK(effects.take().empty());
  effects.connected = true;
  core.tick(t0 + WorkerCore::hello_retry, 2, true);
  const auto sent = effects.take();
  REQUIRE(sent.size() == 1);
  CHECK(std::holds_alternative<Hello>(sent[0]));
  CHECK(core.introduced());
}

TEST_CASE("worker core: a busy worker with a large window waits for credits to gather", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(8), effects);  // a window of 16: returns come 4 at a time
  core.ventilator_connected(t0);
  effects.take();
  for (int i = 0; i < 3; ++i) {
    core.finished(1, core.epoch());
    core.tick(t0 + 1ms, 16, false);
    CHECK(effects.sent.empty());
  }
  core.finished(1, core.epoch());
  core.tick(t0 + 2ms, 16, false);
  CHECK(effects.take() == Sent{Credit{4}});
}

TEST_CASE("worker core: frames of an older epoch never count as credits", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(2), effects);
  core.ventilator_connected(t0);
  const auto old_epoch = core.epoch();
  core.ventilator_frame(zpipe::HelloAgain{}, t0 + 1ms);
  CHECK(effects.take() == Sent{Hello{"w1", 4}, Hello{"w1", 4}});
  CHECK(core.epoch() == old_epoch + 1);

  core.finished(4, old_epoch);
  CHECK(core.credits().owed() == 0);
  core.tick(t0 + 2ms, 4, true);
  CHECK(effects.take().empty());
  core.finished(2, core.epoch());
  core.tick(t0 + 3ms, 4, true);
  CHECK(effects.take() == Sent{Credit{2}});
}

TEST_CASE("worker core: hello_again starts a new epoch with a fresh window", "[worker_core]") {
  FakeEffects effects;
  effects.queued_to_drop = 3;
  WorkerCore core(settings(2), effects);
  core.ventilator_connected(t0);
  core.finished(4, core.epoch());
  core.tick(t0 + 1ms, 8, true);  // grows the window to 8
  REQUIRE(core.credits().window() == 8);
  effects.take();
  const int drops = effects.drops;

  core.ventilator_frame(zpipe::HelloAgain{}, t0 + 2ms);
  CHECK(effects.take() == Sent{Hello{"w1", 4}});
  CHECK(effects.drops == drops + 1);
  CHECK(core.epoch() == 2);
  CHECK(core.credits().window() == 4);
  CHECK(core.credits().owed() == 0);
}

TEST_CASE("worker core: the sink reconnecting makes the worker say hello again", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(2), effects);
  core.ventilator_connected(t0);
  effects.take();
  core.sink_connected(t0 + 1ms);  // the first handshake: nothing was lost
  CHECK(effects.sent.empty());
  CHECK(core.epoch() == 1);

  core.sink_connected(t0 + 2ms);  // cut off and back
  CHECK(effects.take() == Sent{Hello{"w1", 4}});
  CHECK(core.epoch() == 2);
  core.sink_connected(t0 + 3ms);
  CHECK(effects.take() == Sent{Hello{"w1", 4}});
  CHECK(core.epoch() == 3);
}

TEST_CASE("worker core: the sink reconnecting before any ventilator says nothing", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(2), effects);
  core.sink_connected(t0);
  core.sink_connected(t0 + 1ms);
  CHECK(effects.sent.empty());
  CHECK(core.epoch() == 0);
}

TEST_CASE("worker core: job_end with --once exits with the job's outcome", "[worker_core]") {
  const auto [complete, status] = GENERATE(table<bool, int>({{true, zpipe::exit_ok}, {false, zpipe::exit_cancelled}}));
  FakeEffects effects;
  effects.queued_to_drop = 2;
  WorkerCore core(settings(2, true), effects);
  core.ventilator_connected(t0);
  effects.take();
  core.ventilator_frame(zpipe::JobEnd{9, complete}, t0 + 1ms);
  CHECK(core.exit_status() == status);
  CHECK(core.jobs_ended() == 1);
  CHECK(effects.drops == 2);
  REQUIRE_FALSE(effects.lines.empty());
  CHECK_THAT(effects.lines.back(), Catch::Contains("job 9") && Catch::Contains("dropped 2"));
  // An exiting worker sends nothing more, not even a keep-alive.
  core.tick(t0 + 1s, 4, true);
  CHECK(effects.sent.empty());
}

TEST_CASE("worker core: job_end without --once waits silently for the next ventilator", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(2), effects);
  core.ventilator_connected(t0);
  effects.take();
  core.ventilator_frame(zpipe::JobEnd{1, true}, t0 + 1ms);
  CHECK_FALSE(core.exit_status());
  CHECK_FALSE(core.introduced());
  const auto epoch = core.epoch();
  core.finished(4, epoch - 1);  // frames of the ended job
  core.tick(t0 + 1s, 4, true);
  CHECK(effects.sent.empty());

  core.ventilator_connected(t0 + 2s);
  CHECK(effects.take() == Sent{Hello{"w1", 4}});
  CHECK(core.epoch() == epoch + 1);
}

TEST_CASE("worker core: a keep-alive goes out once the interval passes in silence", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(2), effects);
  core.ventilator_connected(t0);
  effects.take();
  const auto interval = WorkerCore::keepalive_interval;

  core.tick(t0 + interval - 1ms, 4, true);
  CHECK(effects.sent.empty());
  core.tick(t0 + interval, 4, true);
  CHECK(effects.take() == Sent{Credit{0}});
  CHECK(core.next_deadline() == t0 + 2 * interval);
  core.tick(t0 + interval + 1ms, 4, true);
  CHECK(effects.sent.empty());

  // A credit is as good as a keep-alive: the interval starts again from it.
  core.finished(4, core.epoch());
  core.tick(t0 + interval + 100ms, 4, true);
  CHECK(effects.take() == Sent{Credit{4}});
  core.tick(t0 + 2 * interval + 99ms, 4, true);
  CHECK(effects.sent.empty());
  core.tick(t0 + 2 * interval + 100ms, 4, true);
  CHECK(effects.take() == Sent{Credit{0}});
}

TEST_CASE("worker core: a message a ventilator may not send is an error", "[worker_core]") {
  const auto message = GENERATE(as<zpipe::Message>{}, Hello{"x", 1}, Credit{1}, zpipe::Ack{1, {{1, 2}}},
                                zpipe::JobManifest{}, zpipe::TaskBatch{});
  FakeEffects effects;
  WorkerCore core(settings(2), effects);
  core.ventilator_connected(t0);
  effects.take();
  CHECK_THROWS_AS(core.ventilator_frame(message, t0), zpipe::codec_error);
  CHECK(effects.sent.empty());
  CHECK_FALSE(core.exit_status());
}

TEST_CASE("worker core: stop exits as interrupted", "[worker_core]") {
  FakeEffects effects;
  WorkerCore core(settings(2), effects);
  core.ventilator_connected(t0);
  core.stop();
  CHECK(core.exit_status() == zpipe::exit_interrupted);
}
