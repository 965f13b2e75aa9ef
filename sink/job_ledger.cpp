// See job_ledger.hpp.
#include "job_ledger.hpp"

namespace zpipe {

bool JobLedger::has(TaskId id) const {
  const std::uint64_t bit = id - 1;
  return id >= 1 && bit / 64 < bits_.size() && (bits_[bit / 64] >> (bit % 64) & 1) != 0;
}

std::vector<std::pair<TaskId, TaskId>> JobLedger::done_ranges() const {
  std::vector<std::pair<TaskId, TaskId>> ranges;
  for (std::size_t word = 0; word < bits_.size(); ++word) {
    if (bits_[word] == 0) continue;
    for (std::size_t bit = 0; bit < 64; ++bit) {
      if ((bits_[word] >> bit & 1) == 0) continue;
      const TaskId id = word * 64 + bit + 1;
      if (!ranges.empty() && ranges.back().second + 1 == id) ranges.back().second = id;
      else ranges.emplace_back(id, id);
    }
  }
  return ranges;
}

bool JobLedger::set_total(std::uint64_t total) {
  if (highest_ > total) return false;
  total_ = total;
  return true;
}

JobLedger::Outcome JobLedger::record(TaskId id, bool ok) {
  if (id < 1) return Outcome::out_of_range;
  if (total_ ? id > *total_ : id >= lowest_missing_ + max_lead) return Outcome::out_of_range;
  const std::uint64_t bit = id - 1;
  if (bit / 64 >= bits_.size()) bits_.resize(bit / 64 + 1 + bits_.size() / 2, 0);
  std::uint64_t& word = bits_[bit / 64];
  const std::uint64_t mask = std::uint64_t{1} << (bit % 64);
  if ((word & mask) != 0) return Outcome::duplicate;
  word |= mask;
  (ok ? ok_ : failed_) += 1;
  if (id > highest_) highest_ = id;
  while (has(lowest_missing_)) ++lowest_missing_;
  return Outcome::recorded;
}

void AckRanges::add(TaskId first, TaskId last) {
  if (!ranges_.empty() && ranges_.back().second + 1 == first) {
    ranges_.back().second = last;
    return;
  }
  ranges_.emplace_back(first, last);
}

std::vector<std::pair<TaskId, TaskId>> AckRanges::take() {
  std::vector<std::pair<TaskId, TaskId>> taken;
  taken.swap(ranges_);
  return taken;
}

}  // namespace zpipe
