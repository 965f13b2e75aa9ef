// The sink's state machine driven directly, with time passed in: when its
// acknowledgements go out with and without a journal.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/lease.hpp"
#include "zpipe/sink_core.hpp"

using namespace std::chrono_literals;

namespace {

const std::string secret(16, 's');

class RecordingEffects final : public zpipe::SinkEffects {
 public:
  bool send(std::string_view peer, std::string_view frame) override {
    if (const auto ack = std::get_if<zpipe::Ack>(&(messages.emplace_back(zpipe::decode(frame)))); ack && peer.starts_with("vent"))
      acks.push_back(*ack);
    return true;
  }
  void write_output(std::string_view bytes) override { output += bytes; }
  void journal_append(std::string_view frame) override {
    ++appended;
    journaled.emplace_back(frame);
  }
  void attempt_failed(const zpipe::Result& result, std::string_view) override { attempts_failed.push_back(result.id); }
  void result_recorded(const zpipe::Result& result, std::string_view) override { recorded.push_back(result.id); }
  void log(std::string_view line) override { logged.emplace_back(line); }
  template <class Type>
  std::vector<Type> sent() const {
    std::vector<Type> found;
    for (const auto& message : messages)
      if (const auto* typed = std::get_if<Type>(&message)) found.push_back(*typed);
    return found;
  }
  void journal_sync() override { ++syncs_asked; }
  std::vector<zpipe::Message> messages;
  std::vector<zpipe::Ack> acks;
  std::string output;
  std::uint64_t appended = 0;
  std::vector<std::string> journaled;
  std::vector<zpipe::TaskId> attempts_failed;
  std::vector<zpipe::TaskId> recorded;  // told to the joblog, in this order
  std::vector<std::string> logged;
  int syncs_asked = 0;
};

// Results for ids first..last from worker "w" (plaintext), leased as the ventilator would.
zpipe::ResultBatch results(zpipe::TaskId first, zpipe::TaskId last) {
  zpipe::ResultBatch batch{7, "w", {}, {}};
  std::vector<zpipe::Task> tasks;
  for (auto id = first; id <= last; ++id) {
    batch.results.push_back(zpipe::Result{id, true, zpipe::Value{static_cast<std::int64_t>(id * id)}});
    tasks.push_back(zpipe::Task{id, zpipe::Value{}});
  }
  zpipe::sign_leases(secret, 7, tasks, "", batch.leases);
  return batch;
}

// Failed results for ids first..last at `attempt`, leased as the ventilator would.
zpipe::ResultBatch failures(zpipe::TaskId first, zpipe::TaskId last, std::uint32_t attempt) {
  zpipe::ResultBatch batch = results(first, last);
  for (auto& result : batch.results) result = zpipe::Result{result.id, false, zpipe::Value{std::string("boom")}, attempt};
  return batch;
}

bool acknowledged(const RecordingEffects& effects, zpipe::TaskId id) {
  for (const auto& ack : effects.acks)
    for (const auto& [first, last] : ack.ranges)
      if (first <= id && id <= last) return true;
  return false;
}

}  // namespace

TEST_CASE("with a journal, results are acknowledged as soon as the journal holds them, not an ack interval later") {
  const auto journal = GENERATE(false, true);
  CAPTURE(journal);
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::SinkCore core(zpipe::SinkSettings{zpipe::OutputFormat::text, journal, false, secret, false}, effects, now);
  core.replay_done(now);
  const zpipe::Message manifest = zpipe::JobManifest{7, "square", 100, "", false, 0};
  core.frame("vent", zpipe::encode(manifest), manifest, now);
  core.journal_synced(effects.appended, now);
  core.tick(now);

  // Acks gather for ack_interval; the journal, if any, syncs at once.
  now += 1ms;
  const zpipe::Message first = results(1, 10);
  core.frame("w", zpipe::encode(first), first, now);
  core.tick(now);
  core.journal_synced(effects.appended, now + 1ms);
  core.tick(now + 1ms);
  // With a journal the sync is the batch: its acks go out with it.
  CHECK(acknowledged(effects, 10) == journal);
  if (journal) CHECK_THAT(effects.output, Catch::Contains("task 10: 100"));
  // Without, they wait for the interval, as do the acks of results that
  // arrive between syncs.
  core.tick(now + zpipe::SinkCore::ack_interval);
  CHECK(acknowledged(effects, 10));
}

// ---- --retries ------------------------------------------------------------

namespace {

// A sink that took a job of `total` tasks with `retries` from "vent".
struct RetrySink {
  RetrySink(std::uint64_t total, std::uint32_t retries, bool journal)
      : RetrySink(zpipe::JobManifest{7, "square", total, "", false, 0, retries}, journal) {}
  RetrySink(const zpipe::JobManifest& manifest, bool journal)
      : core(zpipe::SinkSettings{zpipe::OutputFormat::text, journal, false, secret, false}, effects, now) {
    core.replay_done(now);
    take("vent", manifest);
    core.journal_synced(effects.appended, now);
  }
  void take(const std::string& peer, const zpipe::Message& message) {
    core.frame(peer, zpipe::encode(message), message, now);
    core.tick(now);
    core.journal_synced(effects.appended, now);  // a journal that syncs at once
  }
  // Lets the ack interval pass.
  void wait() {
    now += zpipe::SinkCore::ack_interval;
    core.tick(now);
  }
  [[nodiscard]] std::vector<std::pair<zpipe::TaskId, std::uint32_t>> retried() const {
    std::vector<std::pair<zpipe::TaskId, std::uint32_t>> asked;
    for (const auto& retry : effects.sent<zpipe::Retry>()) {
      REQUIRE(retry.ids.size() == retry.attempts.size());
      for (std::size_t i = 0; i < retry.ids.size(); ++i) asked.emplace_back(retry.ids[i], retry.attempts[i]);
    }
    return asked;
  }
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::SinkCore core;
};

using Asked = std::vector<std::pair<zpipe::TaskId, std::uint32_t>>;

}  // namespace

TEST_CASE("the rate is taken from the first result to the last, not from when the job was accepted") {
  const zpipe::JobManifest manifest{7, "square", 20, "", false, 0};
  // Workers take 8 s to come; then 10 more results arrive in the 2 s after the first 10.
  RetrySink sink(manifest, false);
  sink.now += 8s;
  sink.take("w", results(1, 10));
  sink.now += 2s;
  sink.take("w", results(11, 20));
  CHECK_THAT(sink.core.summary(sink.now + 1h, 0).front(),
             Catch::Contains("in 10.000 s; 2.000 s from the first result to the last (5 tasks/s)"));
  // A job whose results came in one frame: its rate is over the time since it was accepted.
  RetrySink small(manifest, false);
  small.now += 4s;
  small.take("w", results(1, 20));
  CHECK_THAT(small.core.summary(small.now + 1h, 0).front(),
             Catch::Contains("in 4.000 s; 0.000 s from the first result to the last (5 tasks/s)"));
}

TEST_CASE("acks go once they cover a sixteenth of the ventilator's window, without waiting out the ack interval") {
  // A window of 160 tasks: acks after 10. Said in job.window, or for an
  // older ventilator, which does not say, the default of 262144 (16384).
  zpipe::JobManifest manifest{7, "square", 1000, "", false, 0};
  const auto window = GENERATE(std::uint64_t{0}, std::uint64_t{160});
  CAPTURE(window);
  manifest.window = window;
  RetrySink sink(manifest, false);
  sink.take("w", results(1, 9));
  CHECK_FALSE(acknowledged(sink.effects, 9));
  sink.take("w", results(10, 10));
  CHECK(acknowledged(sink.effects, 10) == (window == 160));
  // The count starts again after each ack.
  sink.take("w", results(11, 19));
  CHECK_FALSE(acknowledged(sink.effects, 19));
  // The ack interval still bounds how long an ack waits.
  sink.wait();
  CHECK(acknowledged(sink.effects, 19));
}

TEST_CASE("with a journal, frames still waiting put off a sync until a sixteenth of the window or the ack interval") {
  // A window of 160 tasks: a sync for 10 results, while frames wait.
  zpipe::SinkCore::TimePoint now{};
  RecordingEffects effects;
  zpipe::SinkCore core(zpipe::SinkSettings{zpipe::OutputFormat::text, true, false, secret, false}, effects, now);
  core.replay_done(now);
  zpipe::JobManifest manifest{7, "square", 1000, "", false, 0};
  manifest.window = 160;
  const auto take = [&](const zpipe::Message& message, bool caught_up) {
    core.frame(std::holds_alternative<zpipe::JobManifest>(message) ? "vent" : "w", zpipe::encode(message), message, now);
    core.tick(now, caught_up);
  };
  take(manifest, true);
  REQUIRE(effects.syncs_asked == 1);
  core.journal_synced(effects.appended, now);
  take(results(1, 9), false);
  CHECK(effects.syncs_asked == 1);
  take(results(10, 10), false);
  CHECK(effects.syncs_asked == 2);
  core.journal_synced(effects.appended, now);
  CHECK(acknowledged(effects, 10));
  // Fewer results wait no longer than the ack interval, and not at all once
  // the sink has caught up with its socket.
  take(results(11, 12), false);
  CHECK(effects.syncs_asked == 2);
  now += zpipe::SinkCore::ack_interval;
  core.tick(now, false);
  CHECK(effects.syncs_asked == 3);
  core.journal_synced(effects.appended, now);
  take(results(13, 13), true);
  CHECK(effects.syncs_asked == 4);
}

TEST_CASE("keep-order: acks go once they cover a sixteenth of the reorder buffer, where it is the smaller window") {
  // Reorder buffer 159: the ventilator deals at most 160 ids ahead (§6.8.3), whatever its window.
  zpipe::SinkCore::TimePoint now{};
  RecordingEffects effects;
  zpipe::SinkCore core(zpipe::SinkSettings{zpipe::OutputFormat::text, false, false, secret, false, true, 159}, effects,
                       now);
  core.replay_done(now);
  zpipe::JobManifest manifest{7, "square", 1000, "", false, 0};
  manifest.window = 262144;
  const auto take = [&](const std::string& peer, const zpipe::Message& message) {
    core.frame(peer, zpipe::encode(message), message, now);
    core.tick(now);
  };
  take("vent", manifest);
  take("w", results(2, 10));  // held: task 1 has no result yet
  CHECK_FALSE(acknowledged(effects, 2));
  take("w", results(11, 11));
  CHECK(acknowledged(effects, 11));
}

TEST_CASE("retries: a failure below the limit is asked for again, not printed, journaled or acknowledged") {
  const auto journal = GENERATE(false, true);
  CAPTURE(journal);
  RetrySink sink(3, 1, journal);
  const std::uint64_t records_before = sink.effects.appended;
  // Task 1 fails at its first attempt (not final with --retries 1), task 2
  // is ok, task 3 fails at its second attempt (final).
  zpipe::ResultBatch batch = failures(1, 3, 1);
  batch.results[1] = zpipe::Result{2, true, zpipe::Value{std::int64_t{4}}, 1};
  batch.results[2].attempt = 2;
  sink.take("w", batch);
  sink.wait();
  CHECK(sink.retried() == Asked{{1, 1}});
  CHECK(sink.effects.attempts_failed == std::vector<zpipe::TaskId>{1});  // its joblog line
  CHECK(sink.core.retried() == 1);
  CHECK_FALSE(acknowledged(sink.effects, 1));
  CHECK(acknowledged(sink.effects, 2));
  CHECK(acknowledged(sink.effects, 3));
  CHECK_THAT(sink.effects.output, !Catch::Contains("task 1"));
  CHECK_THAT(sink.effects.output, Catch::Contains("task 2: 4") && Catch::Contains("task 3 FAILED: boom"));
  CHECK(sink.core.completed() == 2);
  if (journal) {  // the journal holds tasks 2 and 3, not task 1's attempt
    REQUIRE(sink.effects.appended == records_before + 1);
    const auto record = std::get<zpipe::ResultBatch>(zpipe::decode(sink.effects.journaled.back()));
    REQUIRE(record.results.size() == 2);
    CHECK(record.results[0].id == 2);
    CHECK(record.results[1].id == 3);
  }

  // The second attempt of task 1 fails as well: final, printed.
  sink.take("w", failures(1, 1, 2));
  sink.wait();
  CHECK(sink.retried() == Asked{{1, 1}});
  CHECK(acknowledged(sink.effects, 1));
  CHECK_THAT(sink.effects.output, Catch::Contains("task 1 FAILED: boom"));
  CHECK(sink.core.completed() == 3);
  CHECK(sink.core.failed() == 2);
  CHECK_THAT(sink.core.summary(sink.now, 0).front(), Catch::Contains("1 ok, 2 failed, 1 retried"));

  // A late failure of a task that has its result is a duplicate, acknowledged again.
  const auto acks = sink.effects.acks.size();
  sink.take("w", failures(2, 2, 1));
  sink.wait();
  CHECK(sink.retried() == Asked{{1, 1}});
  CHECK(sink.effects.acks.size() == acks + 1);
  CHECK(sink.core.duplicates() == 1);
}

TEST_CASE("retries: the ventilator's own failures are final, whatever the limit") {
  RetrySink sink(1, 3, false);
  sink.take("vent", zpipe::ResultBatch{7, "ventilator", {{1, false, zpipe::Value{std::string("lost")}}}});
  sink.wait();
  CHECK(sink.retried().empty());
  CHECK_THAT(sink.effects.output, Catch::Contains("task 1 FAILED: lost"));
}

TEST_CASE("retries 0: every failure is final, and nothing is asked again") {
  RetrySink sink(2, 0, false);
  sink.take("w", failures(1, 2, 1));
  sink.wait();
  CHECK(sink.retried().empty());
  CHECK(sink.core.failed() == 2);
  CHECK_THAT(sink.effects.output, Catch::Contains("task 1 FAILED") && Catch::Contains("task 2 FAILED"));
}

TEST_CASE("retries: many failures go back in bounded frames, at once when a frame's worth is pending") {
  RetrySink sink(5000, 2, false);
  sink.take("w", failures(1, 5000, 2));  // take() ticks at the same instant: no interval has passed
  const auto frames = sink.effects.sent<zpipe::Retry>();
  REQUIRE_FALSE(frames.empty());
  for (const auto& frame : frames) CHECK(frame.ids.size() <= zpipe::SinkCore::retry_ids_at_most);
  CHECK(sink.retried().size() == 5000);
  CHECK(sink.core.completed() == 0);
}

// ---- --halt and --resume-failed ---------------------------------------------

namespace {

zpipe::HaltPolicy halt_on(zpipe::HaltPolicy::When when, zpipe::HaltPolicy::On on, std::uint64_t count,
                          std::uint32_t basis_points = 0) {
  return zpipe::HaltPolicy{when, on, count, basis_points};
}

// A sink that took a job of `total` tasks with `halt` from "vent".
struct HaltSink : RetrySink {
  HaltSink(std::uint64_t total, zpipe::HaltPolicy halt, std::uint32_t retries = 0, bool journal = false)
      : RetrySink(zpipe::JobManifest{7, "square", total, "", false, 0, retries, halt}, journal) {}
  [[nodiscard]] std::vector<zpipe::Halt> halts() const { return effects.sent<zpipe::Halt>(); }
};

}  // namespace

TEST_CASE("halt: fail=N tells the ventilator once the Nth final failure is recorded, not before") {
  const auto when = GENERATE(zpipe::HaltPolicy::When::soon, zpipe::HaltPolicy::When::now);
  HaltSink sink(10, halt_on(when, zpipe::HaltPolicy::On::fail, 2));
  sink.take("w", results(1, 3));
  sink.take("w", failures(4, 4, 1));
  CHECK(sink.halts().empty());
  CHECK_FALSE(sink.core.halted());
  sink.take("w", failures(5, 5, 1));
  REQUIRE(sink.halts().size() == 1);
  CHECK(sink.halts()[0].job == 7);
  CHECK(sink.halts()[0].now == (when == zpipe::HaltPolicy::When::now));
  CHECK_THAT(sink.halts()[0].reason, Catch::Contains("fail=2") && Catch::Contains("2 failed"));
  // Results that arrive meanwhile are still taken, and printed once.
  sink.take("w", results(6, 6));
  CHECK_THAT(sink.effects.output, Catch::Contains("task 6: 36"));
  // Every manifest is answered with the halt again (one may be lost).
  sink.take("vent", zpipe::JobManifest{7, "square", 10, "", false, 6, 0, halt_on(when, zpipe::HaltPolicy::On::fail, 2)});
  CHECK(sink.halts().size() == 2);
  // The ventilator ends the job unfinished: the sink exits 5, and says why and what never ran.
  sink.take("vent", zpipe::JobEnd{7, false});
  sink.core.peer_gone("vent", sink.now);  // the ventilator leaves on the answer
  REQUIRE(sink.core.exit_status());
  CHECK(*sink.core.exit_status() == zpipe::exit_halted);
  REQUIRE_FALSE(sink.effects.sent<zpipe::JobEnd>().empty());
  CHECK_FALSE(sink.effects.sent<zpipe::JobEnd>().back().complete);
  const auto line = sink.core.summary(sink.now, 0).front();
  CHECK_THAT(line, Catch::Contains("halted by --halt") && Catch::Contains("6 of 10 tasks") &&
                       Catch::Contains("4 not run"));
}

TEST_CASE("halt: fail=P% counts failures against the tasks completed") {
  // 50%: after 1 ok and 1 failed, half failed.
  HaltSink sink(10, halt_on(zpipe::HaltPolicy::When::soon, zpipe::HaltPolicy::On::fail, 0, 5000));
  sink.take("w", results(1, 2));
  sink.take("w", failures(3, 3, 1));  // 1 of 3: 33%
  CHECK(sink.halts().empty());
  sink.take("w", failures(4, 4, 1));  // 2 of 4: 50%
  CHECK(sink.halts().size() == 1);
}

TEST_CASE("halt: success=N counts successes") {
  HaltSink sink(10, halt_on(zpipe::HaltPolicy::When::now, zpipe::HaltPolicy::On::success, 3));
  sink.take("w", failures(1, 5, 1));
  sink.take("w", results(6, 7));
  CHECK(sink.halts().empty());
  sink.take("w", results(8, 8));
  REQUIRE(sink.halts().size() == 1);
  CHECK(sink.halts()[0].now);
}

TEST_CASE("halt with --retries: only final failures count") {
  HaltSink sink(10, halt_on(zpipe::HaltPolicy::When::soon, zpipe::HaltPolicy::On::fail, 1), 2);
  sink.take("w", failures(1, 1, 1));
  sink.take("w", failures(1, 1, 2));
  CHECK(sink.halts().empty());        // attempts 1 and 2 of 3 are not final
  sink.take("w", failures(1, 1, 3));
  CHECK(sink.halts().size() == 1);    // the third is
}

TEST_CASE("halt: a job with every result in has nothing to halt, and ends complete") {
  HaltSink sink(2, halt_on(zpipe::HaltPolicy::When::soon, zpipe::HaltPolicy::On::fail, 1));
  sink.take("w", results(1, 1));
  sink.take("w", failures(2, 2, 1));
  CHECK(sink.halts().empty());
  sink.take("vent", zpipe::JobEnd{7, true});
  sink.core.peer_gone("vent", sink.now);
  REQUIRE(sink.core.exit_status());
  CHECK(*sink.core.exit_status() == zpipe::exit_tasks_failed);
}

TEST_CASE("halt: a sink restarted on the journal of a halted job says so again and exits 5") {
  HaltSink sink(10, halt_on(zpipe::HaltPolicy::When::soon, zpipe::HaltPolicy::On::fail, 1), 0, true);
  sink.take("w", failures(1, 1, 1));
  sink.take("vent", zpipe::JobEnd{7, false});
  REQUIRE(sink.core.exit_status() == std::optional<int>{});  // answered; it waits for the ventilator to go
  RecordingEffects again;
  auto now = sink.now;
  zpipe::SinkCore restarted(zpipe::SinkSettings{zpipe::OutputFormat::text, true, false, secret, false}, again, now);
  for (const auto& record : sink.effects.journaled) restarted.replay(zpipe::decode(record));
  restarted.replay_done(now);
  CHECK(restarted.halted());
  restarted.tick(now + zpipe::SinkCore::answer_for);
  REQUIRE(restarted.exit_status());
  CHECK(*restarted.exit_status() == zpipe::exit_halted);
}

TEST_CASE("resume-failed: the failed results are reopened once per run, and only they are dealt again") {
  const auto journal = GENERATE(false, true);
  CAPTURE(journal);
  RetrySink sink(zpipe::JobManifest{7, "square", 6, "fp", false, 0}, journal);
  sink.take("w", results(1, 2));
  sink.take("w", failures(3, 4, 1));
  sink.take("w", results(5, 6));
  sink.take("vent", zpipe::JobEnd{7, true});
  sink.wait();
  REQUIRE(sink.core.completed() == 6);
  // A ventilator started with --resume-failed (its run's token 42).
  zpipe::JobManifest resumed{99, "square", 6, "fp", true, 0, 0, {}, 42, true};
  sink.effects.acks.clear();
  sink.take("vent2", resumed);
  const auto accepted = sink.effects.sent<zpipe::JobAccepted>().back();
  CHECK(accepted.completed == 4);
  CHECK(sink.core.completed() == 4);
  CHECK(acknowledged(sink.effects, 1));
  CHECK(acknowledged(sink.effects, 6));
  CHECK_FALSE(acknowledged(sink.effects, 3));
  CHECK_FALSE(acknowledged(sink.effects, 4));
  // The same run's manifest again (resent, or after a reconnect) reopens nothing more.
  sink.take("w", results(3, 3));
  sink.take("vent2", zpipe::JobManifest{7, "square", 6, "fp", true, 4, 0, {}, 42, true});
  CHECK(sink.core.completed() == 5);
  sink.take("w", failures(4, 4, 1));
  sink.take("w", results(3, 3));  // a duplicate now
  CHECK(sink.core.duplicates() >= 1);
  CHECK(sink.core.completed() == 6);
  sink.take("vent2", zpipe::JobEnd{7, true});
  REQUIRE(sink.core.exit_status() == std::optional<int>{});
  // Task 3's new result printed once; the earlier failed lines stay.
  const auto& out = sink.effects.output;
  CHECK(std::count(out.begin(), out.end(), '\n') == 8);
  CHECK_THAT(out, Catch::Contains("task 3: 9"));
  if (!journal) return;
  // A sink restarted on this journal reaches the same state: nothing to do.
  RecordingEffects again;
  zpipe::SinkCore restarted(zpipe::SinkSettings{zpipe::OutputFormat::text, true, true, secret, false}, again, sink.now);
  for (const auto& record : sink.effects.journaled) restarted.replay(zpipe::decode(record));
  restarted.replay_done(sink.now);
  CHECK(restarted.completed() == 6);
  CHECK(restarted.failed() == 1);
  CHECK(std::count(again.output.begin(), again.output.end(), '\n') == 8);  // the output written again: both runs
}

// ---- --keep-order ---------------------------------------------------------

namespace {

// A sink that took a job of `total` tasks from "vent", with --keep-order
// and a reorder buffer of `buffer`; its journal, if any, syncs at once.
struct OrderedSink {
  OrderedSink(std::uint64_t total, std::uint64_t buffer, bool journal, std::uint32_t retries = 0,
              std::vector<std::string> journaled = {}, bool rewrite_output = false, bool keep_order = true)
      : core(zpipe::SinkSettings{zpipe::OutputFormat::text, journal, rewrite_output, secret, false, keep_order, buffer},
             effects, now) {
    for (const auto& record : journaled) core.replay(zpipe::decode(record));
    core.replay_done(now);
    effects.journaled = std::move(journaled);
    effects.appended = effects.journaled.size();
    take("vent", zpipe::JobManifest{7, "square", total, "", !effects.journaled.empty(), 0, retries});
  }
  void take(const std::string& peer, const zpipe::Message& message) {
    core.frame(peer, zpipe::encode(message), message, now);
    core.tick(now);
    core.journal_synced(effects.appended, now);
    now += zpipe::SinkCore::ack_interval;  // acks go out
    core.tick(now);
  }
  // The task ids of the output's lines, in order.
  [[nodiscard]] std::vector<zpipe::TaskId> printed() const {
    std::vector<zpipe::TaskId> ids;
    for (std::size_t at = 0; (at = effects.output.find("task ", at)) != std::string::npos; at += 5)
      ids.push_back(std::stoull(effects.output.substr(at + 5)));
    return ids;
  }
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + 1h;
  RecordingEffects effects;
  zpipe::SinkCore core;
};

// Results of these ids, in this order, in one frame.
zpipe::ResultBatch results_of(std::initializer_list<zpipe::TaskId> ids) {
  zpipe::ResultBatch batch{7, "w", {}, {}};
  for (const zpipe::TaskId id : ids) {
    const zpipe::ResultBatch one = results(id, id);
    batch.results.push_back(one.results[0]);
    batch.leases.push_back(one.leases[0]);
  }
  return batch;
}

using Ids = std::vector<zpipe::TaskId>;

}  // namespace

TEST_CASE("keep-order: results that arrive out of order are printed and told to the joblog in id order") {
  const auto journal = GENERATE(false, true);
  CAPTURE(journal);
  OrderedSink sink(6, 8, journal);
  sink.take("w", results_of({3, 2}));
  CHECK(sink.printed().empty());
  CHECK(sink.core.reorder_held() == 2);
  // Held results are acknowledged at once: only the buffer's size bounds
  // what the ventilator deals (§6.8), so no worker waits on task 1's.
  CHECK(acknowledged(sink.effects, 2));
  CHECK(acknowledged(sink.effects, 3));
  sink.take("w", results_of({6, 1}));  // 1 frees 2 and 3, not 6
  CHECK(sink.printed() == Ids{1, 2, 3});
  CHECK(sink.core.reorder_held() == 1);
  sink.take("w", results_of({5, 4}));
  CHECK(sink.printed() == Ids{1, 2, 3, 4, 5, 6});
  CHECK(sink.effects.recorded == Ids{1, 2, 3, 4, 5, 6});
  CHECK(sink.core.reorder_held() == 0);
  CHECK(sink.core.reorder_peak() == 3);  // 2, 3 and 6, before 1 of the same frame freed 2 and 3
  CHECK_THAT(sink.effects.output, Catch::Contains("task 6: 36"));
}

TEST_CASE("keep-order: job_accepted tells the ventilator the reorder buffer; without --keep-order it says none") {
  const auto keep_order = GENERATE(false, true);
  OrderedSink sink(10, 5, false, 0, {}, false, keep_order);
  const auto accepted = sink.effects.sent<zpipe::JobAccepted>();
  REQUIRE(accepted.size() == 1);
  CHECK(accepted[0].reorder_buffer == (keep_order ? 5u : 0u));
  // Without it, results are printed as they arrive.
  sink.take("w", results_of({2, 1}));
  CHECK(sink.printed() == (keep_order ? Ids{1, 2} : Ids{2, 1}));
}

TEST_CASE("keep-order: a duplicate of a held result is acknowledged again and printed once") {
  OrderedSink sink(3, 8, false);
  sink.take("w", results_of({2}));
  const auto acks = sink.effects.acks.size();
  sink.take("w", results_of({2}));
  CHECK(sink.effects.acks.size() == acks + 1);
  CHECK(sink.core.duplicates() == 1);
  CHECK(sink.core.reorder_held() == 1);
  sink.take("w", results_of({1, 3}));
  CHECK(sink.printed() == Ids{1, 2, 3});
}

TEST_CASE("keep-order with --resume-failed: the rerun of a printed failure is printed, and nothing stays held") {
  OrderedSink sink(3, 8, false);
  sink.take("w", results_of({1}));
  sink.take("w", failures(2, 2, 1));
  sink.take("w", results_of({3}));
  sink.take("vent", zpipe::JobEnd{7, true});
  CHECK(sink.printed() == Ids{1, 2, 3});
  sink.take("vent", zpipe::JobManifest{7, "square", 3, "", true, 0, 0, {}, 42, true});
  sink.take("w", results_of({2}));
  CHECK(sink.printed() == Ids{1, 2, 3, 2});
  CHECK_THAT(sink.effects.output, Catch::Contains("task 2: 4"));
  CHECK(sink.core.reorder_held() == 0);
}

TEST_CASE("keep-order: a retried task keeps its place; its failed attempt is not printed") {
  OrderedSink sink(3, 8, false, 1);
  sink.take("w", results_of({2, 3}));
  sink.take("w", failures(1, 1, 1));  // not final with --retries 1
  CHECK(sink.printed().empty());
  CHECK(sink.effects.attempts_failed == Ids{1});
  sink.take("w", failures(1, 1, 2));  // final
  CHECK(sink.printed() == Ids{1, 2, 3});
  CHECK_THAT(sink.effects.output, Catch::StartsWith("task 1 FAILED: boom\ntask 2: 4\n"));
}

TEST_CASE("keep-order: a result beyond the buffer (a ventilator that ignores it) is held all the same, and said once") {
  OrderedSink sink(10, 2, false);
  const auto beyond = [&] {
    return std::count_if(sink.effects.logged.begin(), sink.effects.logged.end(), [](const std::string& line) {
      return line.find("beyond --reorder-buffer 2") != std::string::npos;
    });
  };
  sink.take("w", results_of({2, 3}));
  CHECK(beyond() == 0);
  sink.take("w", results_of({4, 5}));  // 4 is 3 past task 1, the buffer 2
  CHECK(sink.core.reorder_held() == 4);
  CHECK(beyond() == 1);
  sink.take("w", results_of({1}));
  CHECK(sink.printed() == Ids{1, 2, 3, 4, 5});
}

TEST_CASE("keep-order with a journal: a restarted sink holds again what the last one held, and prints each once") {
  const auto rewrite_output = GENERATE(false, true);
  CAPTURE(rewrite_output);
  std::vector<std::string> journal;
  {
    OrderedSink first(5, 8, true);
    first.take("w", results_of({1, 3, 4}));
    CHECK(first.printed() == Ids{1});
    journal = first.effects.journaled;
  }  // killed: 3 and 4 are in the journal, held, never printed
  // A new sink, with or without --keep-order on its command line: the job
  // was started ordered, and stays so.
  const auto keep_order = GENERATE(false, true);
  CAPTURE(keep_order);
  OrderedSink second(5, 8, true, 0, journal, rewrite_output, keep_order);
  // With an output file it is written again from the journal up to the
  // gap; with stdout task 1 was printed by the first sink.
  CHECK(second.printed() == (rewrite_output ? Ids{1} : Ids{}));
  CHECK(second.core.reorder_held() == 2);
  // The ventilator learns it holds 1, 3 and 4 and deals 2 and 5 again.
  CHECK(acknowledged(second.effects, 3));
  CHECK(acknowledged(second.effects, 4));
  CHECK_FALSE(acknowledged(second.effects, 2));
  second.take("w", results_of({5, 2}));
  CHECK(second.printed() == (rewrite_output ? Ids{1, 2, 3, 4, 5} : Ids{2, 3, 4, 5}));
  // The joblog gets the lines the first sink never wrote: 3 and 4 were held.
  CHECK(second.effects.recorded == Ids{2, 3, 4, 5});
}

TEST_CASE("keep-order: a journal of a job without --keep-order stays unordered for a sink restarted with it") {
  std::vector<std::string> journal;
  {
    OrderedSink first(3, 8, true, 0, {}, false, false);
    first.take("w", results_of({2}));
    journal = first.effects.journaled;
  }
  OrderedSink second(3, 8, true, 0, journal, false, true);
  CHECK(second.effects.sent<zpipe::JobAccepted>().back().reorder_buffer == 0);
  second.take("w", results_of({3, 1}));
  CHECK(second.printed() == Ids{3, 1});
  CHECK(std::any_of(second.effects.logged.begin(), second.effects.logged.end(), [](const std::string& line) {
    return line.find("started without --keep-order") != std::string::npos;
  }));
}

TEST_CASE("keep-order: every format's output is that of the same results arriving in order") {
  const auto format = GENERATE(zpipe::OutputFormat::text, zpipe::OutputFormat::jsonl, zpipe::OutputFormat::csv,
                               zpipe::OutputFormat::msgpack);
  CAPTURE(static_cast<int>(format));
  const auto output_of = [&](bool keep_order, std::initializer_list<zpipe::TaskId> order) {
    auto now = std::chrono::steady_clock::time_point{} + 1h;
    RecordingEffects effects;
    zpipe::SinkCore core(zpipe::SinkSettings{format, false, false, secret, false, keep_order, 8}, effects, now);
    core.replay_done(now);
    const zpipe::Message manifest = zpipe::JobManifest{7, "square", 4, "", false, 0};
    core.frame("vent", zpipe::encode(manifest), manifest, now);
    for (const zpipe::TaskId id : order) {
      const zpipe::Message batch = results_of({id});
      core.frame("w", zpipe::encode(batch), batch, now);
    }
    core.tick(now);
    return effects.output;
  };
  const std::string in_order = output_of(false, {1, 2, 3, 4});
  CHECK_FALSE(in_order.empty());
  CHECK(output_of(true, {4, 2, 3, 1}) == in_order);
  CHECK(output_of(false, {4, 2, 3, 1}) != in_order);
}

TEST_CASE("with a journal, a sync put off while frames wait is due within the ack interval") {
  // The program sleeps until next_deadline(): without one it would sleep
  // its longest poll (100 ms) with a sync owed.
  zpipe::SinkCore::TimePoint now{};
  RecordingEffects effects;
  zpipe::SinkCore core(zpipe::SinkSettings{zpipe::OutputFormat::text, true, false, secret, false}, effects, now);
  core.replay_done(now);
  zpipe::JobManifest manifest{7, "square", 100000, "", false, 0};
  manifest.window = 262144;  // the ventilator's default: a sync per 16384 while frames wait
  core.frame("vent", zpipe::encode(manifest), manifest, now);
  core.tick(now, true);
  REQUIRE(effects.syncs_asked == 1);
  core.journal_synced(effects.appended, now);
  now += 30ms;
  const auto first = results(1, 4096);
  core.frame("w", zpipe::encode(first), first, now);
  core.tick(now, false);
  REQUIRE(effects.syncs_asked == 2);  // 30 ms since the last request
  core.journal_synced(effects.appended, now);
  now += 5ms;
  const auto second = results(4097, 8192);
  core.frame("w", zpipe::encode(second), second, now);
  core.tick(now, false);
  CHECK(effects.syncs_asked == 2);  // put off
  CHECK(core.next_deadline() <= now + zpipe::SinkCore::ack_interval);
}
