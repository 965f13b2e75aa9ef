// Task ids the sink has results for that the ventilator has not read yet:
// what a resumed job must skip. Disjoint inclusive ranges, merged on insert.
#pragma once

#include <cstdint>
#include <map>

#include "zpipe/messages.hpp"

namespace zpipe {

class RangeSet {
 public:
  /// Adds [first, last]; ids already present are not counted twice.
  void add(TaskId first, TaskId last);
  /// True when `id` is in the set. Ids must be asked in increasing order:
  /// ranges below `id` are dropped as it goes.
  bool take(TaskId id);
  /// How many ids were ever added.
  [[nodiscard]] std::uint64_t count() const { return count_; }

 private:
  std::map<TaskId, TaskId> ranges_;  // first -> last
  std::uint64_t count_ = 0;
};

}  // namespace zpipe
