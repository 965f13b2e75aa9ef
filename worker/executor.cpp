// See executor.hpp.
#include "executor.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>

#include "zpipe/codec.hpp"
#include "zpipe/lease.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"

namespace zpipe {
namespace {

// A pass over queued frames sends what it has computed at least this often.
constexpr auto flush_after = std::chrono::milliseconds(20);
// A frame that takes longer than this on average is slow (see compute_loop).
constexpr std::uint64_t slow_frame_ns = 1'000'000;
// The most time a burst of messages run by submit()'s caller may take, by
// the running mean per message (a bundle is one): its loop answers the
// ventilator and the sink meanwhile (see submit).
constexpr std::uint64_t inline_ns_at_most = 2'000'000;

// A result frame is sent once it holds this many results or bytes, well
// inside the protocol's limits (PROTOCOL.md, "Limits").
constexpr std::size_t results_per_frame = 8192;
constexpr std::size_t result_bytes_per_frame = 4 * 1024 * 1024;
// Results and error messages are cut to what a decoder accepts.
constexpr std::size_t max_value_bytes = DecodeLimits{}.max_string_bytes;

std::size_t value_bytes(const Value& value) {
  if (const auto* exec = std::get_if<ExecValue>(&value))
    return std::max((*exec)->out.size(), (*exec)->err.size()) + 5;
  const auto* text = std::get_if<std::string>(&value);
  return text == nullptr ? 9 : text->size() + 5;
}

// Bytes a result adds to its frame.
std::size_t frame_bytes(const Value& value) {
  if (const auto* exec = std::get_if<ExecValue>(&value))
    return (*exec)->out.size() + (*exec)->err.size() + (*exec)->host.size() + (*exec)->error.size() +
           (*exec)->command.size() + 64;
  return value_bytes(value);
}

Result run_task(const TaskFunction* function, const std::string& kind, const Task& task, const KindRegistry& kinds) {
  if (function == nullptr)
    return {task.id, false, "unknown task kind '" + kind + "'; this worker runs: " + kinds.names()};
  try {
    Value value = (*function)(task.payload);
    if (value_bytes(value) > max_value_bytes)
      return {task.id, false, "result of " + std::to_string(value_bytes(value)) + " bytes exceeds the limit of " +
                                  std::to_string(max_value_bytes)};
    // An exec record says itself whether the command failed; it is kept
    // either way, stdout and stderr with it.
    if (const auto* exec = std::get_if<ExecValue>(&value)) {
      const bool ok = (*exec)->error.empty();
      return {task.id, ok, std::move(value)};
    }
    return {task.id, true, std::move(value)};
  } catch (const std::exception& e) {
    std::string reason = e.what();
    if (reason.size() > 4096) reason.resize(4096);
    return {task.id, false, std::move(reason)};
  } catch (...) {
    return {task.id, false, std::string("the task threw something that is not a std::exception")};
  }
}

}  // namespace

// What task_cancelled() looks at: the epoch of the frame this compute
// thread runs, and its executor's cancellation mark.
thread_local const std::atomic<std::uint64_t>* cancel_mark = nullptr;
thread_local std::uint64_t running_epoch = 0;

bool task_cancelled() {
  return stop_requested() || (cancel_mark != nullptr && running_epoch < cancel_mark->load(std::memory_order_relaxed));
}

Executor::Executor(zmq::context_t& context, const KindRegistry& kinds, std::string worker_name, unsigned threads,
                   const std::string& wake_endpoint)
    : kinds_(kinds), worker_name_(std::move(worker_name)), thread_count_(threads) {
  for (unsigned i = 0; i < threads; ++i) {
    zmq::socket_t wake(context, zmq::socket_type::push);
    wake.set(zmq::sockopt::linger, 0);
    wake.connect(wake_endpoint);
    threads_.emplace_back(&Executor::compute_loop, this, std::move(wake));
  }
}

Executor::~Executor() {
  {
    std::lock_guard lock(inbox_mutex_);
    stopping_ = true;
  }
  inbox_ready_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void Executor::submit(std::vector<zmq::message_t>& task_frames, std::uint64_t epoch) {
  if (task_frames.empty()) return;
  // One compute thread, idle, and a burst known to take little, all of
  // kinds with an integer shortcut (quick by contract, whatever the burst
  // before was): the caller runs it itself, sparing two thread hand-offs
  // (its wake-up of the compute thread, and the compute thread's of it).
  bool inline_pass = thread_count_ == 1 && std::all_of(task_frames.begin(), task_frames.end(), [&](const auto& frame) {
                       const auto kind = peek_tasks_kind(view(frame));
                       return kind && kinds_.find_integer(*kind) != nullptr;
                     });
  {
    std::lock_guard lock(inbox_mutex_);
    const std::uint64_t per_message = nanoseconds_per_message_.load();
    inline_pass = inline_pass && !thread_busy_ && inbox_.empty() && per_message > 0 &&
                  per_message * task_frames.size() <= inline_ns_at_most;
    if (!inline_pass)
      for (auto& frame : task_frames) inbox_.push_back(QueuedFrame{std::move(frame), epoch});
  }
  if (inline_pass) {
    for (auto& frame : task_frames) inline_work_.push_back(QueuedFrame{std::move(frame), epoch});
    task_frames.clear();
    if (!inline_pass_) inline_pass_ = std::make_unique<Pass>(worker_name_);
    run_pass(inline_work_, *inline_pass_, nullptr);
    cancel_mark = nullptr;  // this thread runs no task until its next pass
    return;
  }
  task_frames.clear();
  inbox_ready_.notify_all();
}

std::size_t Executor::drop_queued() {
  std::lock_guard lock(inbox_mutex_);
  const std::size_t dropped = inbox_.size();
  inbox_.clear();
  return dropped;
}

std::vector<FinishedWork> Executor::take_finished() {
  std::vector<FinishedWork> finished;
  std::lock_guard lock(outbox_mutex_);
  finished.swap(outbox_);
  return finished;
}

std::size_t Executor::queued() const {
  std::lock_guard lock(inbox_mutex_);
  return inbox_.size();
}

double Executor::seconds_per_frame() const { return static_cast<double>(nanoseconds_per_frame_.load()) * 1e-9; }

void Executor::finish(FinishedWork work, zmq::socket_t* wake) {
  bool was_empty = false;
  {
    std::lock_guard lock(outbox_mutex_);
    was_empty = outbox_.empty();
    outbox_.push_back(std::move(work));
  }
  if (was_empty && wake != nullptr) wake->send(zmq::str_buffer(""), zmq::send_flags::dontwait);
}

// What one thread keeps from pass to pass: the results frame it fills, the
// columns it reads integer frames into, and its log of rejected frames.
struct Executor::Pass {
  explicit Pass(const std::string& worker) { results.worker = worker; }
  RejectionLog rejections{"task frame from the ventilator"};
  ResultBatch results;
  IntegerTasks integer_tasks;
  std::size_t result_bytes = 0;
  FinishedWork pending;
};

void Executor::compute_loop(zmq::socket_t wake) {
  std::deque<QueuedFrame> work;
  Pass pass(worker_name_);
  for (;;) {
    {
      std::unique_lock lock(inbox_mutex_);
      thread_busy_ = false;
      inbox_ready_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_ || !inbox_.empty(); });
      if (stopping_) return;
      // Take this thread's share of what is queued: one pass over many tiny
      // frames yields one result frame, which keeps batch-1 jobs fast, and
      // the other threads get the rest.
      // Frames that take long (shell commands), or whose time is not known
      // yet, are taken one at a time: the next waits for whichever thread
      // is free first, not behind a slow one on this thread.
      const std::uint64_t per_frame = nanoseconds_per_frame_.load();
      const bool slow = per_frame == 0 || per_frame > slow_frame_ns;
      const std::size_t share = slow ? std::min<std::size_t>(1, inbox_.size()) : (inbox_.size() + thread_count_ - 1) / thread_count_;
      if (share == inbox_.size()) {
        work.swap(inbox_);
      } else {
        std::move(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(share), std::back_inserter(work));
        inbox_.erase(inbox_.begin(), inbox_.begin() + static_cast<std::ptrdiff_t>(share));
      }
      thread_busy_ = !work.empty();
    }
    if (work.empty()) continue;
    if (!run_pass(work, pass, &wake)) return;
  }
}

bool Executor::run_pass(std::deque<QueuedFrame>& work, Pass& pass, zmq::socket_t* wake) {
  cancel_mark = &cancel_below_;
  ResultBatch& results = pass.results;
  FinishedWork& pending = pass.pending;
  IntegerTasks& integer_tasks = pass.integer_tasks;
  std::size_t& result_bytes = pass.result_bytes;

  // Sends what has been computed; `pending.task_frames` counts only frames
  // whose every task is done, so credits never return early.
  const auto flush = [&] {
    // Reserved whole from the estimate: the frame is encoded in one buffer
    // and handed to libzmq as it is, never copied or grown piece by piece.
    if (!results.results.empty()) {
      pending.results_frame.reserve(result_bytes + 64 * results.leases.size() + 64);
      encode(results, pending.results_frame);
    }
    for (const Result& result : results.results) ++(result.ok ? pending.tasks_ok : pending.tasks_failed);
    if (!pending.results_frame.empty() || pending.task_frames > 0) finish(std::move(pending), wake);
    pending = FinishedWork{{}, 0, pending.epoch};
    results.results.clear();
    results.leases.clear();
    result_bytes = 0;
  };

  const auto started = std::chrono::steady_clock::now();
  auto last_flush = started;
  std::uint64_t frames = 0;  // task frames, a bundle counting as those it stands for
  const std::uint64_t messages = work.size();
  // Runs one frame's tasks into `results`; false once the worker stops.
  // `run_one(i)` computes task i's result.
  const auto run_frame = [&](const auto& tasks, std::size_t count, std::uint64_t epoch, auto run_one) {
    frames += tasks.frames;
    const auto per_task_frame = static_cast<std::uint32_t>((count + tasks.frames - 1) / tasks.frames);
    if (per_task_frame > largest_frame_.load()) largest_frame_.store(per_task_frame);
    if (!results.results.empty() && tasks.job != results.job) flush();
    results.job = tasks.job;
    // The sink takes a result only under the lease its task came with, or
    // under a wider lease of the same run.
    append_leases(results.leases, tasks.leases);
    running_epoch = epoch;
    for (std::size_t i = 0; i < count; ++i) {
      if (stop_requested()) return false;
      if (task_cancelled()) break;  // the job ended unfinished: its tasks are not run
      results.results.push_back(run_one(i));
      if (task_cancelled()) {  // cancelled while it ran: nobody waits for its result
        results.results.pop_back();
        break;
      }
      // The sink tells a final failure from one to retry by its attempt.
      results.results.back().attempt = tasks.attempt(i);
      result_bytes += frame_bytes(results.results.back().value) + 12;
      if (results.results.size() >= results_per_frame || result_bytes >= result_bytes_per_frame) {
        flush();
        if (i + 1 < count) results.leases = tasks.leases;
      }
    }
    pending.task_frames += tasks.frames;
    return true;
  };

  for (auto& [frame, epoch] : work) {
    if (epoch != pending.epoch) {
      flush();
      pending.epoch = epoch;
    }
    // A frame of integer payloads for a kind with an integer shortcut
    // (square) is read as columns and run without a Value per task.
    if (decode_integer_tasks(view(frame), integer_tasks)) {
      const TaskFunction* function = kinds_.find(integer_tasks.kind);
      const IntegerFunction integer = function != nullptr ? kinds_.find_integer(integer_tasks.kind) : nullptr;
      const bool going_on = run_frame(integer_tasks, integer_tasks.ids.size(), epoch, [&](std::size_t i) {
        const TaskId id = integer_tasks.ids[i];
        std::int64_t value = 0;
        if (integer != nullptr && integer(integer_tasks.payloads[i], value)) return Result{id, true, Value{value}};
        return run_task(function, integer_tasks.kind, Task{id, Value{integer_tasks.payloads[i]}}, kinds_);
      });
      if (!going_on) return false;
    } else {
      TaskBatch batch;
      try {
        auto message = decode(view(frame));
        auto* tasks = std::get_if<TaskBatch>(&message);
        if (tasks == nullptr) throw codec_error("expected a tasks message, got " + std::string(message_name(message)));
        batch = std::move(*tasks);
      } catch (const codec_error& e) {
        rejected_.fetch_add(1);
        pass.rejections.reject(e.what());
        ++pending.task_frames;  // what it claimed to stand for is not known: one
        ++frames;
        continue;
      }
      const TaskFunction* function = kinds_.find(batch.kind);
      const bool going_on = run_frame(batch, batch.tasks.size(), epoch,
                                      [&](std::size_t i) { return run_task(function, batch.kind, batch.tasks[i], kinds_); });
      if (!going_on) return false;
    }
    // Slow tasks (shell commands) go to the sink as each frame finishes,
    // not when the whole pass does: a failure that --halt waits for must
    // not wait behind the next command. Tiny tasks still share a frame.
    if (const auto now = std::chrono::steady_clock::now(); now - last_flush >= flush_after) {
      flush();
      last_flush = now;
    }
  }
  work.clear();
  flush();
  const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started);
  const auto per_frame = static_cast<std::uint64_t>(elapsed.count()) / std::max<std::uint64_t>(1, frames);
  const auto previous = nanoseconds_per_frame_.load();
  nanoseconds_per_frame_.store(previous == 0 ? per_frame : (previous * 3 + per_frame) / 4);
  const auto per_message = static_cast<std::uint64_t>(elapsed.count()) / std::max<std::uint64_t>(1, messages);
  const auto previous_message = nanoseconds_per_message_.load();
  nanoseconds_per_message_.store(previous_message == 0 ? per_message : (previous_message * 3 + per_message) / 4);
  return true;
}

}  // namespace zpipe
