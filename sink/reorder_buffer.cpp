// See reorder_buffer.hpp.
#include "zpipe/reorder_buffer.hpp"

#include <algorithm>

namespace zpipe {

bool ReorderBuffer::hold(const Result& result, std::string_view worker) {
  const std::uint64_t ahead = result.id - next_;  // above 0: take() released the rest
  const bool within = ahead <= limit_;
  if (within) {
    while (slots_.size() <= ahead) slots_.push_back(Slot{});
    Slot& slot = slots_[ahead];
    if (slot.held) unhold(slot);
    slot.result = result;
    slot.worker = name_of(worker);
    slot.held = true;
    ++names_[slot.worker].held;
    ++held_;
    bytes_ += value_bytes(result);
  } else {
    if (const auto held = beyond_.find(result.id); held != beyond_.end()) {
      bytes_ -= beyond_bytes(held->second);
      beyond_.erase(held);
    }
    const auto [added, _] = beyond_.emplace(result.id, Beyond{result, std::string(worker)});
    bytes_ += beyond_bytes(added->second);
  }
  peak_ = std::max(peak_, held());
  return within;
}

void ReorderBuffer::unhold(Slot& slot) {
  bytes_ -= value_bytes(slot.result);
  --names_[slot.worker].held;
  --held_;
  slot.held = false;
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

std::size_t ReorderBuffer::value_bytes(const Result& result) {
  if (const auto* text = std::get_if<std::string>(&result.value)) return text->size();
  if (const auto* exec = std::get_if<ExecValue>(&result.value))
    return sizeof(ExecRecord) + exec->record->out.size() + exec->record->err.size() + exec->record->host.size() +
           exec->record->error.size() + exec->record->command.size();
  return 0;
}

// A map node is about four pointers and a colour beside the entry.
std::size_t ReorderBuffer::beyond_bytes(const Beyond& held) {
  return sizeof(Beyond) + 5 * sizeof(void*) + held.worker.size() + value_bytes(held.result);
}

}  // namespace zpipe
