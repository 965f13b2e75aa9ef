// The worker's side of the job protocol as a state machine with no I/O:
// introductions (hello), credits and keep-alives, and the end of a job. The
// program (worker.cpp) and the simulator (tests/sim/) feed it events with
// the time they happened; it answers through WorkerEffects.
//
// Every introduction starts an epoch. Task frames are tagged with the epoch
// they arrived in, and frames of an older epoch never count as credits: the
// ventilator dealt them again when this worker said hello.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "credit_window.hpp"
#include "zpipe/messages.hpp"

namespace zpipe {

class WorkerEffects {
 public:
  virtual ~WorkerEffects() = default;
  /// Queues a frame for the ventilator. Returns false when it cannot (no
  /// connection is up); the core then counts nothing as sent.
  virtual bool send_to_ventilator(std::string_view frame) = 0;
  /// Drops task frames not yet started; returns how many.
  virtual std::size_t drop_queued() = 0;
  /// The job ended unfinished: tasks of frames of an epoch below `epoch`
  /// that are running are cancelled, and their results dropped.
  virtual void cancel_running(std::uint64_t /*epoch*/) {}
  virtual void log(std::string_view line) = 0;
};

struct WorkerSettings {
  std::string name;
  unsigned threads = 1;
  bool once = false;
  /// The kinds announced in hello; absent: the field is left out (as an
  /// older worker does), which the ventilator reads as every kind.
  std::optional<std::vector<std::string>> kinds = std::nullopt;
  /// hello.bundle: task frames it takes in one message (sent only with kinds).
  std::uint32_t bundle = 1;
};

class WorkerCore {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  /// Well inside the ventilator's --worker-timeout (1 s at least), so a live
  /// worker is never taken for gone.
  static constexpr std::chrono::milliseconds keepalive_interval{250};
  /// How soon a hello that could not be sent is tried again.
  static constexpr std::chrono::milliseconds hello_retry{10};

  WorkerCore(WorkerSettings settings, WorkerEffects& effects);

  /// A handshake with the ventilator completed: say hello.
  void ventilator_connected(TimePoint now);
  /// A handshake with the sink completed. After the first, results queued on
  /// the broken link may be lost, so the worker says hello again and the
  /// ventilator deals again what it held.
  void sink_connected(TimePoint now);
  /// A message from the ventilator other than tasks. Throws codec_error for
  /// one a ventilator may not send.
  void ventilator_frame(const Message& message, TimePoint now);
  /// The epoch to tag task frames that arrive now with.
  [[nodiscard]] std::uint64_t epoch() const { return epoch_; }
  /// `frames` task frames of `epoch` are done and their results handed to the sink link.
  void finished(std::uint32_t frames, std::uint64_t epoch);
  /// Returns credits or sends a keep-alive when due. `wanted_window` is the
  /// backlog the worker's speed calls for; `idle` when nothing is queued.
  void tick(TimePoint now, std::uint32_t wanted_window, bool idle);
  void stop();

  [[nodiscard]] std::optional<int> exit_status() const { return exit_status_; }
  [[nodiscard]] bool introduced() const { return introduced_; }
  [[nodiscard]] TimePoint next_deadline() const;
  [[nodiscard]] std::uint64_t jobs_ended() const { return jobs_ended_; }
  [[nodiscard]] const CreditWindow& credits() const { return credits_; }

 private:
  void introduce(TimePoint now);
  bool tell_ventilator(const Message& message, TimePoint now);

  WorkerSettings settings_;
  WorkerEffects& effects_;
  CreditWindow credits_;
  bool introduced_ = false;  // hello sent to the ventilator we are connected to
  bool hello_owed_ = false;  // a hello could not be sent: try again
  std::uint64_t epoch_ = 0;
  std::uint64_t sink_handshakes_ = 0;
  std::uint64_t jobs_ended_ = 0;
  TimePoint last_sent_{};
  std::optional<int> exit_status_;
  std::string frame_;
};

}  // namespace zpipe
