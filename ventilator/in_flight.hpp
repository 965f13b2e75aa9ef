// Every task the ventilator has read but the sink has not acknowledged, in
// id order. Ids are dense, so the table is a deque indexed by id - base; its
// length is bounded by --max-in-flight, which bounds the ventilator's memory.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "zpipe/messages.hpp"

namespace zpipe {

class InFlightTable {
 public:
  /// Who holds a task: a worker's slot in the WorkerPool, or no_holder.
  using Holder = std::uint32_t;
  static constexpr Holder no_holder = ~Holder{0};

  /// Adds the next task and returns its id (1, 2, ...).
  TaskId add(Value payload);
  void assign(TaskId id, Holder holder) { entries_[id - base_].holder = holder; }
  /// Counts that a worker holding the task was lost; returns the count.
  std::uint32_t lost(TaskId id) { return ++entries_[id - base_].losses; }

  /// Takes the pending tasks `holder` held away from it and returns their
  /// ids, oldest first.
  std::vector<TaskId> release(Holder holder);
  /// Takes every pending task from whoever holds it; returns their ids.
  std::vector<TaskId> release_all();
  [[nodiscard]] const Value& payload(TaskId id) const { return entries_[id - base_].payload; }
  /// True while `id` has been read and not acknowledged.
  [[nodiscard]] bool pending(TaskId id) const {
    return id >= base_ && id < next_id_ && !entries_[id - base_].done;
  }

  /// Marks [first, last] as done; ids outside the table are ignored. Calls
  /// released(holder) for each task newly done that a worker held.
  template <class Released>
  void acknowledge(TaskId first, TaskId last, Released released) {
    first = first < base_ ? base_ : first;
    last = last >= next_id_ ? next_id_ - 1 : last;
    for (TaskId id = first; id <= last && first <= last; ++id) {
      Entry& entry = entries_[id - base_];
      if (entry.done) continue;
      if (entry.holder != no_holder) released(entry.holder);
      entry = Entry{Value{}, no_holder, entry.losses, true};
      --unacknowledged_;
    }
    while (!entries_.empty() && entries_.front().done) {
      entries_.pop_front();
      ++base_;
    }
  }

  /// Tasks read and not yet acknowledged, plus acknowledged ones behind an
  /// older unacknowledged one: what the table holds.
  [[nodiscard]] std::uint64_t span() const { return entries_.size(); }
  [[nodiscard]] std::uint64_t unacknowledged() const { return unacknowledged_; }
  [[nodiscard]] std::uint64_t read() const { return next_id_ - 1; }

 private:
  struct Entry {
    Value payload;
    Holder holder = no_holder;
    std::uint32_t losses = 0;
    bool done = false;
  };
  std::deque<Entry> entries_;
  TaskId base_ = 1;  // id of entries_.front()
  TaskId next_id_ = 1;
  std::uint64_t unacknowledged_ = 0;
};

}  // namespace zpipe
