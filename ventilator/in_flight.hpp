// Every task the ventilator has read but the sink has not acknowledged, in
// id order. Ids are dense, so the table is a deque indexed by id - base; its
// length is bounded by --max-in-flight, which bounds the ventilator's memory.
#pragma once

#include <cstdint>
#include <deque>

#include "zpipe/messages.hpp"

namespace zpipe {

class InFlightTable {
 public:
  /// Adds the next task and returns its id (1, 2, ...).
  TaskId add(Value payload);
  [[nodiscard]] const Value& payload(TaskId id) const { return entries_[id - base_].payload; }
  /// True while `id` has been read and not acknowledged.
  [[nodiscard]] bool pending(TaskId id) const {
    return id >= base_ && id < next_id_ && !entries_[id - base_].done;
  }

  /// Marks [first, last] as done; ids outside the table are ignored.
  /// Returns how many were newly done.
  std::uint64_t acknowledge(TaskId first, TaskId last);

  /// Tasks read and not yet acknowledged, plus acknowledged ones behind an
  /// older unacknowledged one: what the table holds.
  [[nodiscard]] std::uint64_t span() const { return entries_.size(); }
  [[nodiscard]] std::uint64_t unacknowledged() const { return unacknowledged_; }
  [[nodiscard]] std::uint64_t read() const { return next_id_ - 1; }

 private:
  struct Entry {
    Value payload;
    bool done = false;
  };
  std::deque<Entry> entries_;
  TaskId base_ = 1;  // id of entries_.front()
  TaskId next_id_ = 1;
  std::uint64_t unacknowledged_ = 0;
};

}  // namespace zpipe
