// The worker's compute threads. The network thread hands them task frames;
// they decode, run and encode result frames, and wake the network thread
// through an inproc socket only when its outbox goes from empty to not empty,
// so that a burst of tiny tasks costs one wake-up, not one per task. With
// one compute thread, a quick burst of kinds with an integer shortcut is run
// by the network thread itself (see submit).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "zpipe/worker.hpp"

namespace zpipe {

/// Results ready for the sink, and how many task frames they finish.
struct FinishedWork {
  std::string results_frame;  // empty when every frame was rejected
  std::uint32_t task_frames = 0;
  std::uint64_t epoch = 0;    // of the task frames (see WorkerCore)
  std::uint32_t tasks_ok = 0;      // results in results_frame, by outcome
  std::uint32_t tasks_failed = 0;
};

class Executor {
 public:
  /// Starts `threads` compute threads. `wake_endpoint` is an inproc PULL the
  /// caller has bound already.
  Executor(zmq::context_t& context, const KindRegistry& kinds, std::string worker_name, unsigned threads,
           const std::string& wake_endpoint);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  /// Queues task frames of `epoch` (and empties `task_frames`): one lock
  /// and one wake-up for a whole burst. With one compute thread, idle, a
  /// burst whose frames all name kinds with an integer shortcut, and whose
  /// messages' running mean time puts it within 2 ms, runs here instead:
  /// its results are in take_finished() when this returns.
  void submit(std::vector<zmq::message_t>& task_frames, std::uint64_t epoch);
  /// Drops frames not yet started; returns how many. Frames a thread has
  /// taken already finish, under their own epoch.
  std::size_t drop_queued();
  /// Frames of an epoch below `epoch` are cancelled (their job ended
  /// unfinished): tasks not started are not run, a running one sees
  /// task_cancelled(), and their results are dropped.
  void cancel_below(std::uint64_t epoch) { cancel_below_.store(epoch, std::memory_order_relaxed); }
  /// Moves out what has finished since the last call.
  [[nodiscard]] std::vector<FinishedWork> take_finished();

  [[nodiscard]] std::size_t queued() const;
  /// Mean seconds one task frame takes to run, recently; 0 before the first.
  [[nodiscard]] double seconds_per_frame() const;
  /// The most tasks seen in one task frame (a bundle's tasks over its frames).
  [[nodiscard]] std::uint32_t largest_frame() const { return largest_frame_.load(); }
  [[nodiscard]] std::uint64_t rejected() const { return rejected_.load(); }

 private:
  struct Pass;
  struct QueuedFrame {
    zmq::message_t frame;
    std::uint64_t epoch = 0;
  };
  void compute_loop(zmq::socket_t wake);
  /// Runs `work` (and empties it) on the calling thread, finishing its
  /// results; `wake` (none for the caller's own pass) is told when the
  /// outbox stops being empty. False once the worker is asked to stop.
  bool run_pass(std::deque<QueuedFrame>& work, Pass& pass, zmq::socket_t* wake);
  void finish(FinishedWork work, zmq::socket_t* wake);

  const KindRegistry& kinds_;
  const std::string worker_name_;
  const std::size_t thread_count_;

  mutable std::mutex inbox_mutex_;
  std::condition_variable inbox_ready_;
  std::deque<QueuedFrame> inbox_;
  bool stopping_ = false;
  bool thread_busy_ = false;  // with one thread: it is running a pass

  // submit()'s own passes, on the caller's thread.
  std::deque<QueuedFrame> inline_work_;
  std::unique_ptr<Pass> inline_pass_;

  std::mutex outbox_mutex_;
  std::vector<FinishedWork> outbox_;

  std::atomic<std::uint64_t> cancel_below_{0};
  std::atomic<std::uint64_t> nanoseconds_per_frame_{0};
  std::atomic<std::uint64_t> nanoseconds_per_message_{0};  // a bundle being one message
  std::atomic<std::uint32_t> largest_frame_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::vector<std::thread> threads_;
};

}  // namespace zpipe
