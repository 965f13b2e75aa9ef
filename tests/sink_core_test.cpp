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
  template <class Type>
  std::vector<Type> sent() const {
    std::vector<Type> found;
    for (const auto& message : messages)
      if (const auto* typed = std::get_if<Type>(&message)) found.push_back(*typed);
    return found;
  }
  void journal_sync() override { ++syncs_asked; }
  void log(std::string_view) override {}
  std::vector<zpipe::Message> messages;
  std::vector<zpipe::Ack> acks;
  std::string output;
  std::uint64_t appended = 0;
  std::vector<std::string> journaled;
  std::vector<zpipe::TaskId> attempts_failed;
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
  CHECK_THAT(sink.core.summary(1.0, 0).front(), Catch::Contains("1 ok, 2 failed, 1 retried"));

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
  const auto line = sink.core.summary(1.0, 0).front();
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
