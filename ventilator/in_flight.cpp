// See in_flight.hpp.
#include "in_flight.hpp"

namespace zpipe {

TaskId InFlightTable::add(Value payload) {
  entries_.push_back(Entry{std::move(payload), no_holder, 0, false});
  ++unacknowledged_;
  return next_id_++;
}

std::vector<TaskId> InFlightTable::release(Holder holder) {
  std::vector<TaskId> released;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& entry = entries_[i];
    if (entry.done || entry.holder != holder) continue;
    entry.holder = no_holder;
    released.push_back(base_ + i);
  }
  return released;
}

std::vector<TaskId> InFlightTable::release_all() {
  std::vector<TaskId> released;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& entry = entries_[i];
    if (entry.done) continue;
    entry.holder = no_holder;
    released.push_back(base_ + i);
  }
  return released;
}

}  // namespace zpipe
