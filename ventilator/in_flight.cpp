// See in_flight.hpp.
#include "zpipe/in_flight.hpp"

namespace zpipe {

TaskId InFlightTable::add(Value payload) {
  entries_.push_back(Entry{std::move(payload), no_holder, 0, 1, State::waiting, false});
  ++unacknowledged_;
  return next_id_++;
}

void InFlightTable::hold(TaskId id, Holder holder) {
  Entry& task = entry(id);
  task.state = State::held;
  task.holder = holder;
}

void InFlightTable::fail(TaskId id, std::string reason) {
  Entry& task = entry(id);
  task.state = State::failed;
  task.holder = no_holder;
  task.payload = Value{std::move(reason)};
}

bool InFlightTable::release_one(TaskId id, Holder holder) {
  if (!known(id)) return false;
  Entry& task = entry(id);
  if (task.state != State::held || task.holder != holder) return false;
  task.state = State::waiting;
  task.holder = no_holder;
  return true;
}

std::vector<TaskId> InFlightTable::release(Holder holder) {
  std::vector<TaskId> released;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& task = entries_[i];
    if (task.state != State::held || task.holder != holder) continue;
    task.state = State::waiting;
    task.holder = no_holder;
    released.push_back(base_ + i);
  }
  return released;
}

std::vector<TaskId> InFlightTable::release_all() {
  std::vector<TaskId> waiting;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& task = entries_[i];
    if (task.state == State::held) {
      task.state = State::waiting;
      task.holder = no_holder;
    }
    if (task.state == State::waiting) waiting.push_back(base_ + i);
  }
  return waiting;
}

std::vector<TaskId> InFlightTable::failed_ids() const {
  std::vector<TaskId> failed;
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].state == State::failed) failed.push_back(base_ + i);
  return failed;
}

}  // namespace zpipe
