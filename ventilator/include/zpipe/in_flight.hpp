// Every task the ventilator has read but the sink has not acknowledged, in
// id order. Ids are dense, so the table is a queue indexed by id - base; its
// length is bounded by --max-in-flight, which bounds the ventilator's memory,
// and once it has reached its peak it allocates nothing per task.
//
// Each task is in exactly one state, so no path can deal a task that is held,
// failed or done: the queues of tasks to deal may hold stale ids, and the
// state decides whether a popped id is still to be dealt.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "zpipe/messages.hpp"
#include "zpipe/ring_buffer.hpp"

namespace zpipe {

class InFlightTable {
 public:
  /// Who holds a task: a worker's slot in the WorkerPool, or no_holder.
  using Holder = std::uint32_t;
  static constexpr Holder no_holder = ~Holder{0};

  enum class State : std::uint8_t {
    waiting,  // to be dealt
    held,     // dealt to a worker, no result acknowledged yet
    failed,   // given up on; its failure was reported to the sink, which has not acknowledged it
    done,     // acknowledged by the sink
  };

  /// Adds the next task (waiting) and returns its id (1, 2, ...).
  TaskId add(const Value& payload);

  void hold(TaskId id, Holder holder);
  /// Gives up on a waiting task: `reason` replaces its payload.
  void fail(TaskId id, std::string reason);
  /// Counts that a worker holding the task was lost; returns the count.
  std::uint32_t lost(TaskId id) { return ++entry(id).losses; }
  /// The task's failure at its attempt was not final (--retries): it is
  /// run again as the next attempt. Returns that attempt.
  std::uint32_t retried(TaskId id) { return ++entry(id).attempt; }

  /// The task becomes waiting if `holder` holds it; returns whether it did.
  bool release_one(TaskId id, Holder holder);
  /// Every task `holder` held becomes waiting; returns their ids, oldest first.
  std::vector<TaskId> release(Holder holder);
  /// Every held task becomes waiting; returns the ids of all waiting tasks.
  std::vector<TaskId> release_all();
  /// The ids of failed tasks whose failure the sink has not acknowledged.
  [[nodiscard]] std::vector<TaskId> failed_ids() const;

  /// Marks [first, last] done; ids outside the table are ignored. Calls
  /// released(holder, count) for the tasks newly done that a worker held,
  /// once per run of them with the same holder (one call for a whole
  /// frame's worth, not one per task).
  template <class Released>
  void acknowledge(TaskId first, TaskId last, Released released) {
    first = first < base_ ? base_ : first;
    last = last >= next_id_ ? next_id_ - 1 : last;
    Holder run_holder = no_holder;
    std::uint64_t run = 0;
    const auto count_released = [&](const Entry& task) {
      if (task.state != State::held) return;
      if (run > 0 && task.holder != run_holder) {
        released(run_holder, run);
        run = 0;
      }
      run_holder = task.holder;
      ++run;
    };
    // Acks mostly start at the oldest task: those entries leave the table
    // as they are read, each touched once (it is out of every cache by now).
    for (; first == base_ && first <= last; ++first) {
      Entry& task = entries_.front();
      count_released(task);
      if (task.state != State::done) --unacknowledged_;
      entries_.pop_front();  // frees a line's text now
      ++base_;
    }
    for (TaskId id = first; id <= last; ++id) {
      Entry& task = entries_[id - base_];
      if (task.state == State::done) continue;
      count_released(task);
      task.text.reset();  // frees a line's text now
      task.holder = no_holder;
      task.state = State::done;
      task.queued = false;
      --unacknowledged_;
    }
    if (run > 0) released(run_holder, run);
    while (!entries_.empty() && entries_.front().state == State::done) {
      entries_.pop_front();
      ++base_;
    }
  }

  [[nodiscard]] bool known(TaskId id) const { return id >= base_ && id < next_id_; }
  /// The state of a task read; a task no longer in the table is done.
  [[nodiscard]] State state(TaskId id) const { return known(id) ? entries_[id - base_].state : State::done; }
  [[nodiscard]] Value payload(TaskId id) const;
  [[nodiscard]] Holder holder(TaskId id) const { return known(id) ? entries_[id - base_].holder : no_holder; }
  [[nodiscard]] std::uint32_t losses(TaskId id) const { return entries_[id - base_].losses; }
  /// Which attempt of the task is dealt (1 until a failure is retried).
  [[nodiscard]] std::uint32_t attempt(TaskId id) const { return entries_[id - base_].attempt; }
  /// Whether the id sits in one of the caller's queues of tasks to deal;
  /// set and cleared by the caller so an id is queued at most once.
  [[nodiscard]] bool queued(TaskId id) const { return known(id) && entries_[id - base_].queued; }
  void set_queued(TaskId id, bool queued) {
    if (known(id)) entry(id).queued = queued;
  }

  /// Tasks read and not yet acknowledged, plus acknowledged ones behind an
  /// older unacknowledged one: what the table holds.
  [[nodiscard]] std::uint64_t span() const { return entries_.size(); }
  [[nodiscard]] std::uint64_t unacknowledged() const { return unacknowledged_; }
  [[nodiscard]] std::uint64_t read() const { return next_id_ - 1; }

 private:
  // 32 bytes, not the 56 of an entry that holds a Value: the table is read
  // once more when the task is acknowledged, tens of milliseconds after it
  // was dealt, and by then it is out of every cache.
  struct Entry {
    std::int64_t number = 0;            // the payload, when it is a number
    std::unique_ptr<std::string> text;  // a text payload, or the reason a failed task failed
    Holder holder = no_holder;
    std::uint32_t losses = 0;
    std::uint32_t attempt = 1;  // in the padding after losses: the entry is no larger for it
    State state = State::waiting;
    bool queued = false;
    bool nil = false;  // a payload of nil (a Python None)
  };
  static_assert(sizeof(Entry) <= 32, "an in-flight entry is read once per task acknowledged: keep it small");
  Entry& entry(TaskId id) { return entries_[id - base_]; }

  RingBuffer<Entry> entries_;
  TaskId base_ = 1;  // id of entries_.front()
  TaskId next_id_ = 1;
  std::uint64_t unacknowledged_ = 0;
};

}  // namespace zpipe
