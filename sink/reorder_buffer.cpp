// See reorder_buffer.hpp.
#include "zpipe/reorder_buffer.hpp"

#include <algorithm>

namespace zpipe {

bool ReorderBuffer::hold(const Result& result, std::string_view worker) {
  const std::uint64_t ahead = result.id - next_;  // above 0: ids below next_ were all released
  const bool within = ahead <= limit_;
  bytes_ += held_bytes(result);
  if (within) {
    while (slots_.size() <= ahead) slots_.push_back(Slot{});
    Slot& slot = slots_[ahead];
    slot.result = result;
    slot.worker = name_of(worker);
    slot.held = true;
    ++names_[slot.worker].held;
    ++held_;
  } else {
    bytes_ += worker.size();
    beyond_.emplace(result.id, Beyond{result, std::string(worker)});
  }
  peak_ = std::max(peak_, held());
  return within;
}

// Results come a frame at a time, so the last name is nearly always the one.
// Names of workers with nothing held are reused, so the list is never
// longer than the most workers that had results held at once.
std::uint32_t ReorderBuffer::name_of(std::string_view worker) {
  if (last_name_ < names_.size() && names_[last_name_].text == worker) return last_name_;
  std::size_t unused = names_.size();
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i].text == worker) return last_name_ = static_cast<std::uint32_t>(i);
    if (names_[i].held == 0 && unused == names_.size()) unused = i;
  }
  if (unused == names_.size()) names_.emplace_back();
  names_[unused].text = worker;
  return last_name_ = static_cast<std::uint32_t>(unused);
}

std::size_t ReorderBuffer::held_bytes(const Result& result) {
  std::size_t bytes = sizeof(Slot);
  if (const auto* text = std::get_if<std::string>(&result.value)) bytes += text->size();
  else if (const auto* exec = std::get_if<ExecValue>(&result.value))
    bytes += sizeof(ExecRecord) + exec->record->out.size() + exec->record->err.size() + exec->record->host.size() +
             exec->record->error.size() + exec->record->command.size();
  return bytes;
}

}  // namespace zpipe
