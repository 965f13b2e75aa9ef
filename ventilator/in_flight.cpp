// See in_flight.hpp.
#include "in_flight.hpp"

#include <algorithm>

namespace zpipe {

TaskId InFlightTable::add(Value payload) {
  entries_.push_back(Entry{std::move(payload), false});
  ++unacknowledged_;
  return next_id_++;
}

std::uint64_t InFlightTable::acknowledge(TaskId first, TaskId last) {
  first = std::max(first, base_);
  last = std::min(last, next_id_ - 1);
  std::uint64_t newly = 0;
  for (TaskId id = first; id <= last && first <= last; ++id) {
    Entry& entry = entries_[id - base_];
    if (entry.done) continue;
    entry.done = true;
    entry.payload = Value{};
    ++newly;
  }
  unacknowledged_ -= newly;
  while (!entries_.empty() && entries_.front().done) {
    entries_.pop_front();
    ++base_;
  }
  return newly;
}

}  // namespace zpipe
