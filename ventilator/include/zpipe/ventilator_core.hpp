// The ventilator's side of the job protocol as a state machine with no I/O:
// the program (ventilator.cpp) and the simulator (tests/sim/) feed it events
// with the time they happened, and it answers through VentilatorEffects.
// Time is never read here, so a run is a function of its events.
//
// A job goes through these phases:
//   waiting for the sink  the manifest goes to the sink every half second
//                         until it is accepted, and again after every new
//                         handshake on the sink link
//   dealing               once the sink has accepted and said what it holds,
//                         and --min-workers workers have said hello
//   ending                every task acknowledged: job_end goes to the
//                         workers and, until it answers, to the sink
//   cancelling            stop() asked: job_end (cancelled) goes out the same
//                         way, for a bounded time
//   halting               the sink said --halt soon is met: nothing more is
//                         dealt; once workers hold nothing, the job ends as
//                         cancelled (--halt now goes to cancelling at once)
// Every task stays in the in-flight table until the sink acknowledges it: a
// worker that is gone loses its tasks to others, and a sink that comes back
// gets every unacknowledged task again (it drops what it already has).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "zpipe/in_flight.hpp"
#include "zpipe/messages.hpp"
#include "zpipe/peer_identity.hpp"
#include "zpipe/range_set.hpp"
#include "zpipe/task_source.hpp"
#include "zpipe/worker_pool.hpp"

namespace zpipe {

/// What the ventilator asks of the world around it.
class VentilatorEffects {
 public:
  virtual ~VentilatorEffects() = default;
  /// Queues a frame for worker `peer`. Returns false when the peer is gone or
  /// its queue is full; the core then takes the worker for gone. A frame
  /// that went may have been taken whole (left empty) rather than copied.
  virtual bool send_to_worker(std::string_view peer, std::string& frame) = 0;
  /// Queues a frame for the sink; it is kept until the link can take it, and
  /// lost only if the link breaks (the core sends again after a new handshake).
  virtual void send_to_sink(std::string_view frame) = 0;
  virtual void log(std::string_view line) = 0;
};

/// The protocol's settings; see VentilatorConfig for what each means.
struct VentilatorSettings {
  JobId job = 0;
  std::string kind = "square";
  std::uint32_t batch = 1;
  std::uint32_t min_workers = 1;
  std::uint64_t max_in_flight = 262144;
  std::chrono::milliseconds worker_timeout{3000};
  std::uint32_t max_attempts = 3;
  bool resume = false;
  /// How long connected workers may all lack the job's kind before the job
  /// is cancelled (exit 3); 0 waits for ever.
  std::chrono::milliseconds kind_timeout{60'000};
  std::string sink_name;  // for log lines
  /// A task a live worker holds longer than this is dealt again, and counts
  /// an attempt (--task-timeout); zero: never.
  std::chrono::milliseconds task_timeout{0};
  /// The most tasks one worker may hold (--max-held-per-worker), until the
  /// sink acknowledges them.
  std::uint64_t max_held_per_worker = 262144;
  /// Times a failed task is run again (--retries), on another worker where
  /// one is ready. Sent to the sink in the manifest: the sink decides which
  /// failures are final and asks for the others again (retry).
  std::uint32_t retries = 0;
  /// --halt, sent to the sink in the manifest: the sink judges it and tells
  /// the ventilator (halt) to deal nothing more, or to cancel at once.
  HaltPolicy halt = {};
  /// With resume: a token of this run, non-zero, so the sink takes up again
  /// a job that ended unfinished once per run (VentilatorProgram draws it).
  std::uint64_t resume_token = 0;
  /// --resume-failed: the sink's failed tasks are run again too.
  bool resume_failed = false;
};

class VentilatorCore {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;

  /// How often the manifest, or job_end, goes to a sink that has not answered.
  static constexpr std::chrono::milliseconds resend_interval{500};
  /// How long a cancelled job waits for the sink to confirm before exiting.
  static constexpr std::chrono::milliseconds cancel_wait{5000};
  /// How long a complete job waits for the sink's answer to job_end. Every
  /// result is acknowledged (and durable, with a journal) by then: the
  /// answer only lets the sink exit, so a sink that cannot be reached for
  /// this long does not hold the ventilator.
  static constexpr std::chrono::seconds end_wait{60};
  /// Frames smaller than this many tasks go to one worker several in a row,
  /// this many tasks in all: their ids form one run, under one lease.
  static constexpr std::uint64_t run_tasks = 64;
  /// A bundle (PROTOCOL.md §6.2.10) gathers frames up to about this many
  /// bytes: 64 frames of large payloads would pass the 16 MiB a worker's
  /// socket takes (its ZMQ_MAXMSGSIZE drops the connection). A frame that
  /// would take it past this goes in the next message.
  static constexpr std::size_t bundle_bytes_at_most = 4 * 1024 * 1024;
  /// A frame stops short of --batch at the task that takes it past this
  /// many bytes (as task_bytes() counts them, a lease each): 32 lines of
  /// 1 MiB would pass the worker's 16 MiB. With one more line of 1 MiB, the
  /// most a frame can reach stays under it; 65536 numbers (4.8 MB) fit.
  static constexpr std::size_t frame_bytes_at_most = 8 * 1024 * 1024;
  /// How often a waiting ventilator says what it waits for.
  static constexpr std::chrono::seconds waiting_line_interval{10};
  /// status()'s rate is over about this long, from samples this far apart.
  static constexpr std::chrono::seconds rate_window{10};
  static constexpr std::chrono::seconds progress_sample_interval{1};

  VentilatorCore(VentilatorSettings settings, std::unique_ptr<TaskSource> source, VentilatorEffects& effects,
                 TimePoint now);

  /// A frame from a worker, with the identity it proved (PeerTrust). Throws
  /// codec_error for a message a worker may not send (the caller counts and
  /// logs it).
  void worker_frame(const std::string& peer, const PeerIdentity& identity, const Message& message, TimePoint now);
  /// The same from a worker in plaintext, known only by its routing id.
  void worker_frame(const std::string& peer, const Message& message, TimePoint now) {
    worker_frame(peer, PeerIdentity{}, message, now);
  }
  /// A worker's key lost its role: it is dealt nothing more, and its tasks
  /// go to others at once (the caller refuses what it sends from now on,
  /// and logs the revocation once per key). Returns the tasks dealt again.
  std::uint64_t worker_revoked(const std::string& peer, TimePoint now);
  /// A worker's connection closed: its tasks go to others at once.
  void worker_gone(const std::string& peer, TimePoint now);
  /// A handshake with the sink completed (the first, or after the link broke).
  void sink_connected(TimePoint now);
  /// A frame from the sink. Throws codec_error for one it may not send, and
  /// std::runtime_error when the sink refuses the job.
  void sink_frame(const Message& message, TimePoint now);
  /// SIGINT or SIGTERM: the first cancels the job, a second stops at once.
  void stop(TimePoint now);
  /// Deals what credits allow, takes back from silent workers, sends what is
  /// due. Call after every batch of events and when next_deadline() passes.
  void tick(TimePoint now);

  /// When tick() next has something to do even if no event comes.
  [[nodiscard]] TimePoint next_deadline() const;
  /// True while dealing waits for the task source (poll its input_fd()).
  [[nodiscard]] bool waiting_for_input() const { return waiting_for_input_; }
  /// True once every task is acknowledged (the job is complete, whatever follows).
  [[nodiscard]] bool complete() const { return phase_ == Phase::ending || exit_status_ == 0; }
  /// The exit status once the core is done.
  [[nodiscard]] std::optional<int> exit_status() const { return exit_status_; }

  [[nodiscard]] JobId job() const { return manifest_.job; }
  [[nodiscard]] std::uint64_t read() const { return in_flight_.read(); }
  [[nodiscard]] std::uint64_t acknowledged() const;
  [[nodiscard]] std::uint64_t in_flight_span() const { return in_flight_.span(); }
  /// Tasks read and not yet acknowledged by the sink.
  [[nodiscard]] std::uint64_t in_flight() const { return in_flight_.unacknowledged(); }
  [[nodiscard]] std::size_t workers() const { return workers_.alive(); }
  /// Connected workers that run the job's kind.
  [[nodiscard]] std::size_t workers_running_kind() const { return workers_.running_kind(); }
  [[nodiscard]] std::uint64_t dealt_again() const { return redealt_; }
  /// Tasks dealt again because a live worker held them past --task-timeout.
  [[nodiscard]] std::uint64_t timed_out() const { return timed_out_; }
  /// Tasks sent to workers, the first time and again.
  [[nodiscard]] std::uint64_t dealt() const { return dealt_; }
  /// Tasks reported failed by the ventilator (lost with --max-attempts workers).
  [[nodiscard]] std::uint64_t failed() const { return failed_; }
  /// Failed attempts run again at the sink's request (--retries).
  [[nodiscard]] std::uint64_t retried() const { return retried_; }
  /// Whether the sink halted the job (--halt).
  [[nodiscard]] bool halted() const { return halted_; }
  [[nodiscard]] std::uint64_t workers_lost() const { return workers_lost_; }
  [[nodiscard]] const TaskSource& source() const { return *source_; }
  /// Where the job stands, for zpipe-status: progress, the rate over the
  /// last rate_window, and a row per connected worker (at most
  /// Status::max_rows, those holding the most).
  [[nodiscard]] Status status(TimePoint now) const;
  /// What the core is doing, in one line, for a stuck job's report.
  [[nodiscard]] std::string describe() const;
  /// The closing line: tasks read, acknowledged, dealt again, workers.
  [[nodiscard]] std::string summary(double seconds) const;

 private:
  enum class Phase { waiting_for_sink, dealing, ending, cancelling, done, halting };

  void take_hello(const std::string& peer, const PeerIdentity& identity, const Hello& hello, TimePoint now);
  void expire_held_tasks(TimePoint now);
  void sign(WorkerState& worker, TaskBatch& batch, TimePoint now);
  void watch_kind(TimePoint now);
  void take_credit(const std::string& peer, const Credit& credit, TimePoint now);
  void take_acceptance(const JobAccepted& accepted);
  void take_ack(const Ack& ack, TimePoint now);
  void take_job_end(const JobEnd& end);
  void take_retry(const Retry& retry);
  void take_halt(const Halt& halt, TimePoint now);
  void end_halt_when_done(TimePoint now);
  [[nodiscard]] std::uint64_t held_by_workers() const;
  std::uint64_t take_back(std::uint32_t slot, std::string_view why, bool lost, bool logged = true);
  void drop_worker(std::uint32_t slot, std::string_view why, bool lost);
  void queue(TaskId id, InFlightTable::Holder failed_on = InFlightTable::no_holder);
  void deal_suspects(TimePoint now);
  void deal_retries(TimePoint now, std::uint64_t held_at_most);
  void deal(TimePoint now);
  void start_batch();
  void add_to_batch(TaskId id, Value payload, std::uint32_t attempt);
  [[nodiscard]] bool batch_has_room() const;
  bool fill_batch();
  bool top_up_batch();
  bool send_batch(WorkerState& worker, TimePoint now);
  void add_to_bundle(WorkerState& worker, std::size_t bytes);
  void send_bundle(TimePoint now);
  bool send_frame_to(std::string_view peer);
  void fail_task(TaskId id, std::string reason);
  void send_failures();
  bool ready_to_deal();
  void send_manifest_when_due(TimePoint now);
  void send_end_when_due(TimePoint now);
  void say_what_dealing_waits_for(TimePoint now);
  void begin_end(bool complete, TimePoint now);
  void finish(int status);
  void tell_worker(const std::string& peer, const Message& message);
  [[nodiscard]] std::optional<std::uint64_t> remaining_tasks() const;
  [[nodiscard]] bool all_acknowledged() const;

  VentilatorSettings settings_;
  std::unique_ptr<TaskSource> source_;
  VentilatorEffects& effects_;
  Phase phase_ = Phase::waiting_for_sink;
  WorkerPool workers_;
  InFlightTable in_flight_;
  RangeSet not_read_yet_;         // acknowledged by the sink, not read by us yet (resume)
  std::uint64_t skipped_ = 0;     // ids read that not_read_yet_ held: done already
  std::deque<TaskId> to_redeal_;  // waiting tasks to deal before new ones
  std::deque<TaskId> suspects_;   // waiting tasks to be run alone
  // Waiting tasks whose failure the sink retries, with the worker slot that
  // failed them: dealt first, to another worker where one is ready.
  std::deque<std::pair<TaskId, InFlightTable::Holder>> to_retry_;
  JobManifest manifest_;
  std::optional<std::uint64_t> sink_total_;
  std::uint64_t sink_holds_ = 0;  // results the sink said it had when it accepted
  bool accepted_ = false;
  bool redeal_after_sync_ = false;
  bool dealing_started_ = false;
  bool waiting_for_input_ = false;
  bool end_complete_ = false;
  std::uint64_t redealt_ = 0;
  std::uint64_t timed_out_ = 0;
  std::uint64_t retried_ = 0;
  bool halted_ = false;        // the sink said the job's --halt condition is met
  std::string halt_reason_;
  std::string lease_secret_;  // from the sink's job_accepted
  std::uint64_t reorder_buffer_ = 0;  // the sink's, with --keep-order (job_accepted); 0: none
  std::uint64_t dealt_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t workers_lost_ = 0;
  std::uint64_t sink_handshakes_ = 0;
  TimePoint started_;
  TimePoint next_send_{};          // manifest or job_end to the sink
  TimePoint next_waiting_line_{};
  bool waiting_for_workers_ = false;  // accepted, but too few workers to deal to
  TimePoint next_expiry_check_{};
  TimePoint give_up_at_{};         // cancelling
  int cancelled_status_ = 130;     // exit status once a cancellation is over
  // Since when the connected workers have all lacked the job's kind.
  std::optional<TimePoint> kind_missing_since_;
  TimePoint next_kind_line_{};
  std::optional<int> exit_status_;
  // Workers taken for gone by silence whose connection may still be open:
  // told when the job ends too. Bounded; a disconnect removes one.
  std::unordered_map<std::string, TimePoint> departed_;
  // Peers the ventilator does not know that sent credits: when first, and
  // when last answered. A credit sent before a hello can arrive just ahead
  // of it (a DEALER keeps what it sends while reconnecting), so a stranger is
  // answered only after a grace, then at most once a second.
  struct Stranger {
    TimePoint first_seen;
    std::optional<TimePoint> answered;
  };
  std::unordered_map<std::string, Stranger> strangers_;
  // Tasks dealt here and acknowledged (not those a resumed job's sink held
  // already): status()'s rate, from samples about a second apart over the
  // last rate_window. Never empty.
  std::uint64_t done_by_workers_ = 0;
  struct ProgressSample {
    TimePoint at;
    std::uint64_t acknowledged = 0;
  };
  std::deque<ProgressSample> progress_samples_;
  TaskBatch batch_;
  std::size_t batch_bytes_ = 0;  // task_bytes() of batch_'s tasks
  // Frames dealt one worker in a row in this pass, sent as one message (a
  // bundle, PROTOCOL.md §6.2.10) when the pass ends, another worker is
  // dealt, or it holds the most that worker takes.
  TaskBatch bundle_;
  std::optional<std::uint32_t> bundle_slot_;
  std::size_t bundle_bytes_ = 0;  // what bundle_ adds to its frame, at most
  ResultBatch failures_;
  std::string frame_;
};

}  // namespace zpipe
