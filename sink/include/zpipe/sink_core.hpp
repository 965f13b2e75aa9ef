// The sink's side of the job protocol as a state machine with no I/O: the
// program (sink.cpp) and the simulator (tests/sim/) feed it frames, journal
// syncs and timer ticks with the time they happened, and it answers through
// SinkEffects. Time is never read here.
//
// With a journal, a result is acknowledged and printed only once the journal
// holds it durably, so nothing acknowledged is lost in a crash and a
// restarted sink never prints an id twice. The sink finishes when the
// ventilator says the job is over (job_end), which it says only once it has
// every ack: then the sink answers job_end and exits.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "zpipe/job_ledger.hpp"
#include "zpipe/lease.hpp"
#include "zpipe/messages.hpp"
#include "zpipe/peer_identity.hpp"
#include "zpipe/reorder_buffer.hpp"
#include "zpipe/result_writer.hpp"
#include "zpipe/sink.hpp"

namespace zpipe {

class SinkEffects {
 public:
  virtual ~SinkEffects() = default;
  /// Queues a frame for `peer`. Returns false when it is gone or its queue is full.
  virtual bool send(std::string_view peer, std::string_view frame) = 0;
  /// Writes formatted result lines to the output.
  virtual void write_output(std::string_view bytes) = 0;
  /// Told of each result recorded as it arrives (not those replayed from
  /// the journal), for the joblog and --results, which do not wait for it.
  /// With --keep-order, told as the result leaves the reorder buffer, so the
  /// joblog is in task id order too (as parallel --keep-order writes it).
  virtual void result_recorded(const Result& /*result*/, std::string_view /*worker*/) {}
  /// Told of each failed attempt that is not final (--retries): the task is
  /// run again, so the failure goes to the joblog only, not to --results.
  virtual void attempt_failed(const Result& /*result*/, std::string_view /*worker*/) {}
  /// Appends a record to the journal; records are numbered 1, 2, ... in order.
  virtual void journal_append(std::string_view frame) = 0;
  /// Asks for every record appended so far to be made durable; answered,
  /// later, by SinkCore::journal_synced.
  virtual void journal_sync() = 0;
  virtual void log(std::string_view line) = 0;
};

struct SinkSettings {
  OutputFormat format = OutputFormat::text;
  bool journal = false;
  /// Results replayed from the journal are written to the output again (a
  /// file rewritten from the journal, or a program's on_output); with stdout
  /// they were printed by the sink before this one.
  bool rewrite_output = false;
  /// The secret leases of a new job are signed with (random_lease_secret());
  /// a job taken up from the journal keeps the one it had.
  std::string lease_secret;
  /// text: each line starts with the task's input and a tab (--tag).
  bool tag = false;
  /// --keep-order: results are written in task id order, each waiting in a
  /// reorder buffer of at most `reorder_buffer` results (reorder_buffer.hpp).
  bool keep_order = false;
  std::uint64_t reorder_buffer = 65536;
};

class SinkCore {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  static constexpr std::chrono::milliseconds ack_interval{20};
  static constexpr std::chrono::milliseconds sync_interval{20};
  static constexpr std::size_t ack_ranges_at_most = 4096;  // per frame: what a decoder takes
  /// Acks go once they cover this share of the tasks the ventilator deals
  /// before it waits for them (job.window), if ack_interval has not passed
  /// first: at 12M tasks/s, 20 ms is 240k tasks, all of the default window.
  static constexpr std::uint64_t acks_per_window = 16;
  /// The window of a ventilator that does not say: its --max-in-flight default.
  static constexpr std::uint64_t assumed_window = 262144;
  static constexpr std::size_t retry_ids_at_most = 4096;   // per retry frame
  static constexpr std::size_t output_flush_bytes = 256 * 1024;
  /// With a journal, a written chunk's output buffer is kept for reuse up
  /// to this size.
  static constexpr std::size_t spare_output_bytes_at_most = 16 * 1024 * 1024;
  /// Distinct worker names counted for the summary; the rest are summed.
  static constexpr std::size_t named_workers_at_most = 1024;
  /// After answering job_end, the sink answers it again (the answer may be
  /// lost) until the ventilator disconnects, or for this long at most.
  static constexpr std::chrono::seconds answer_for{30};
  /// How often a sink that waits for a job, or for results, says so.
  static constexpr std::chrono::seconds waiting_line_interval{10};

  SinkCore(SinkSettings settings, SinkEffects& effects, TimePoint now);

  /// A record of the journal, in order, before any frame.
  void replay(const Message& record);
  /// Replay is over; logs what was taken up.
  void replay_done(TimePoint now);

  /// A frame from `peer` (a worker or the ventilator), with the identity it
  /// proved; the caller has checked that its role may send this message.
  /// Throws codec_error for one that cannot be taken (the caller counts and
  /// logs it).
  void frame(const std::string& peer, const PeerIdentity& identity, std::string_view raw, const Message& message,
             TimePoint now);
  /// The same in plaintext, where a peer is known only by its routing id.
  void frame(const std::string& peer, std::string_view raw, const Message& message, TimePoint now) {
    frame(peer, PeerIdentity{}, raw, message, now);
  }
  /// A peer's connection closed.
  void peer_gone(const std::string& peer, TimePoint now);
  /// Every journal record up to `sequence` is durable.
  void journal_synced(std::uint64_t sequence, TimePoint now);
  /// Sends acks and writes output that are due, syncs the journal when due.
  /// `caught_up`: no frame was left waiting. While frames wait, the journal
  /// syncs only once a sixteenth of the window, or ack_interval, has gathered
  /// since its last sync: fewer, larger syncs under load, and no wait when
  /// the sink keeps up.
  void tick(TimePoint now, bool caught_up = true);
  /// SIGINT or SIGTERM.
  void stop(TimePoint now);

  [[nodiscard]] TimePoint next_deadline() const;
  [[nodiscard]] std::optional<int> exit_status() const { return exit_status_; }
  [[nodiscard]] bool has_job() const { return ledger_.has_value(); }
  [[nodiscard]] std::uint64_t completed() const { return ledger_ ? ledger_->completed() : 0; }
  [[nodiscard]] std::optional<std::uint64_t> total() const { return ledger_ ? ledger_->total() : std::nullopt; }
  [[nodiscard]] std::uint64_t failed() const { return ledger_ ? ledger_->failed() : 0; }
  /// Whether the job's --halt condition was met (the ventilator was told).
  [[nodiscard]] bool halted() const { return halted_; }
  /// Failed attempts that were not final: the ventilator was asked to run them again (--retries).
  [[nodiscard]] std::uint64_t retried() const { return retried_; }
  [[nodiscard]] std::uint64_t duplicates() const { return duplicates_; }
  /// Results refused because no lease for them named the key that sent them.
  [[nodiscard]] std::uint64_t forged() const { return forged_; }
  [[nodiscard]] std::size_t ledger_bytes() const { return ledger_ ? ledger_->memory_bytes() : 0; }
  /// --keep-order: results waiting for an earlier one, now and at most so far.
  [[nodiscard]] std::uint64_t reorder_held() const { return reorder_ ? reorder_->held() : 0; }
  [[nodiscard]] std::uint64_t reorder_peak() const { return reorder_ ? reorder_->peak() : 0; }
  /// Bytes held for output or acks until the journal syncs.
  [[nodiscard]] std::size_t held_bytes() const;
  /// The closing lines: how the job went (how long, from when it was
  /// accepted and from its first result, until it completed or `now`),
  /// duplicates and rejections, tasks per worker.
  [[nodiscard]] std::vector<std::string> summary(TimePoint now, std::uint64_t frames_rejected) const;

 private:
  enum class Phase { collecting, closing, answered, done };

  void take_results(const std::string& peer, const PeerIdentity& identity, const ResultBatch& batch,
                    std::string_view raw, TimePoint now);
  void take_manifest(const std::string& peer, const JobManifest& manifest, TimePoint now);
  void take_job_end(const std::string& peer, const JobEnd& end, TimePoint now);
  std::uint64_t take_up_again(const JobManifest& manifest);
  void check_halt();
  void send_halt();
  [[nodiscard]] bool closing_complete() const;
  [[nodiscard]] std::optional<std::string> refusal_of(const JobManifest& manifest) const;
  void start_job(const JobManifest& manifest);
  void journal(std::string_view frame);
  void journal(const Message& message);
  [[nodiscard]] JobManifest current_manifest() const;
  void count_worker(std::string_view worker, std::uint64_t tasks);
  void seal(TimePoint now);
  void send_acks(const std::vector<std::pair<TaskId, TaskId>>& ranges);
  void send_acks_when_due(TimePoint now, bool now_anyway);
  void ask_again(const Result& result, std::string_view worker);
  void deliver(const Result& result, std::string_view worker, bool live);
  void say_what_is_held();
  void send_retries_when_due(TimePoint now);
  void write_output_when_due(bool now_anyway);
  void close(int status, TimePoint now);
  void finish_when_synced(TimePoint now);
  void say_what_it_waits_for(TimePoint now);
  void answer_job_end();
  void finish();

  SinkSettings settings_;
  SinkEffects& effects_;
  Phase phase_ = Phase::collecting;
  std::optional<JobLedger> ledger_;
  JobId job_ = 0;
  std::string kind_;
  std::string fingerprint_;
  std::uint32_t retries_ = 0;  // the manifest's: failures of attempts up to this one are not final
  HaltPolicy halt_;            // the manifest's --halt
  bool halted_ = false;        // its condition is met: the ventilator is told with every manifest
  std::string halt_reason_;
  // The last --resume run that took the job up again, and whether it
  // reopened the failed results (--resume-failed); journaled with the manifest.
  std::uint64_t resume_token_ = 0;
  bool resume_failed_ = false;
  std::string ventilator_;  // the peer that sent the manifest last
  ResultWriter writer_;
  std::optional<ReorderBuffer> reorder_;  // with --keep-order
  std::uint64_t beyond_reorder_buffer_ = 0;
  bool order_changed_ = false;  // the journal's job has another --keep-order than the settings
  // With a journal: output and acks of records not yet durable, sealed into
  // chunks at each sync request and released when the journal says so.
  struct Unsynced {
    std::uint64_t sequence = 0;  // durable once the journal has synced this record
    std::string output;
    AckRanges acks;
  };
  std::deque<Unsynced> unsynced_;
  // The largest output buffer of a written chunk, for the next seal: a
  // fresh buffer per sync grew from nothing each time, and its new pages
  // were most of what --journal cost.
  std::string spare_output_;
  std::uint64_t appended_ = 0;
  std::uint64_t synced_ = 0;
  std::uint64_t sync_requested_ = 0;
  TimePoint last_sync_request_{};
  AckRanges pending_acks_;
  TimePoint last_ack_{};
  std::uint64_t ack_after_tasks_ = assumed_window / acks_per_window;
  // Failed attempts to run again, sent to the ventilator as acks are (they
  // need no journal: a task not acknowledged is dealt again anyway).
  Retry pending_retry_;
  TimePoint last_retry_{};
  std::uint64_t retried_ = 0;
  TimePoint started_;
  // The rate counts the results after the first frame of them this sink
  // collected, over the time since: the time before it, until workers
  // connect, is start-up, not work (and lasts as long as whoever starts the
  // workers takes).
  std::optional<TimePoint> first_result_at_;
  std::uint64_t completed_at_first_result_ = 0;
  std::optional<TimePoint> completed_at_;  // when the last result arrived
  TimePoint next_waiting_line_{};          // pushed back by every job or new result
  std::uint64_t duplicates_ = 0;
  std::uint64_t replayed_ = 0;
  std::uint64_t rejected_results_ = 0;
  std::uint64_t forged_ = 0;
  std::uint64_t forged_frames_ = 0;
  LeasedRanges leased_;  // of the frame being taken; kept for its memory
  std::string lease_secret_;
  AckRanges unsealed_acks_;
  std::map<std::string, std::uint64_t, std::less<>> tasks_by_worker_;
  std::uint64_t tasks_by_other_workers_ = 0;
  ResultBatch journaled_;  // the results of one frame that were new
  std::string closing_peer_;
  int closing_status_ = 0;
  bool end_journaled_ = false;
  std::optional<JobEnd> replayed_end_;
  TimePoint answered_until_{};
  std::optional<int> exit_status_;
  std::string frame_;
};

}  // namespace zpipe
