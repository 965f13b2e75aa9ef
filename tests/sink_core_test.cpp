// The sink's state machine driven directly, with time passed in: when its
// acknowledgements go out with and without a journal.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "zpipe/codec.hpp"
#include "zpipe/lease.hpp"
#include "zpipe/sink_core.hpp"

using namespace std::chrono_literals;

namespace {

const std::string secret(16, 's');

class RecordingEffects final : public zpipe::SinkEffects {
 public:
  bool send(std::string_view peer, std::string_view frame) override {
    if (const auto ack = std::get_if<zpipe::Ack>(&(messages.emplace_back(zpipe::decode(frame)))); ack && peer == "vent")
      acks.push_back(*ack);
    return true;
  }
  void write_output(std::string_view bytes) override { output += bytes; }
  void journal_append(std::string_view) override { ++appended; }
  void journal_sync() override { ++syncs_asked; }
  void log(std::string_view) override {}
  std::vector<zpipe::Message> messages;
  std::vector<zpipe::Ack> acks;
  std::string output;
  std::uint64_t appended = 0;
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
