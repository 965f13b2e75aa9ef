// See in_flight.hpp.
#include "zpipe/in_flight.hpp"

namespace zpipe {

TaskId InFlightTable::add(const Value& payload) {
  Entry entry;
  if (const auto* number = std::get_if<std::int64_t>(&payload)) entry.number = *number;
  else if (std::holds_alternative<std::monostate>(payload)) entry.nil = true;
  else entry.text = std::make_unique<std::string>(as_text(payload));  // sources read text, never exec records
  entries_.push_back(std::move(entry));
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
  task.text = std::make_unique<std::string>(std::move(reason));
}

Value InFlightTable::payload(TaskId id) const {
  const Entry& task = entries_[id - base_];
  if (task.text) return Value{*task.text};
  return task.nil ? Value{} : Value{task.number};
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
