// See job_ledger.hpp.
#include "zpipe/job_ledger.hpp"

#include <algorithm>
#include <bit>

namespace zpipe {

namespace {
constexpr std::size_t min_ring_words = 16;
}

bool JobLedger::has(TaskId id) const {
  if (id == 0) return false;
  if (!reopened_.empty() && reopened_.contains(id)) return false;
  if (id < lowest_missing_) return true;
  const std::uint64_t offset = id - base_;
  return offset / 64 < count_ && (word(offset / 64) >> (offset % 64) & 1) != 0;
}

// Reopened ids stay marked in the bitmap (lowest_missing_ never moves
// back, so max_lead still bounds what a peer can make it hold); the set
// says which of them lack a result.
std::uint64_t JobLedger::reopen_failed() {
  std::uint64_t reopened = 0;
  for (const TaskId id : failed_ids_)
    if (reopened_.insert(id).second) ++reopened;
  failed_ -= reopened;
  failed_ids_.clear();
  failed_ids_.shrink_to_fit();
  return reopened;
}

void JobLedger::count(TaskId id, bool ok) {
  if (ok) {
    ++ok_;
  } else {
    ++failed_;
    failed_ids_.push_back(id);
  }
}

bool JobLedger::take_reopened(TaskId id, bool ok) {
  if (reopened_.empty() || reopened_.erase(id) == 0) return false;
  count(id, ok);
  return true;
}

std::vector<std::pair<TaskId, TaskId>> JobLedger::done_ranges() const {
  std::vector<std::pair<TaskId, TaskId>> ranges;
  if (!reopened_.empty()) {
    // Rare (a --resume-failed run): every done id, less the reopened ones.
    std::vector<TaskId> holes(reopened_.begin(), reopened_.end());
    std::sort(holes.begin(), holes.end());
    JobLedger bitmap_only = *this;
    bitmap_only.reopened_.clear();
    for (auto [first, last] : bitmap_only.done_ranges()) {
      auto hole = std::lower_bound(holes.begin(), holes.end(), first);
      for (; hole != holes.end() && *hole <= last; ++hole) {
        if (*hole > first) ranges.emplace_back(first, *hole - 1);
        first = *hole + 1;
      }
      if (first <= last) ranges.emplace_back(first, last);
    }
    return ranges;
  }
  if (lowest_missing_ > 1) ranges.emplace_back(1, lowest_missing_ - 1);
  for (std::size_t index = 0; index < count_; ++index) {
    std::uint64_t bits = word(index);
    // The front word also holds ids below lowest_missing_, already in ranges.
    if (index == 0) bits &= ~std::uint64_t{0} << (lowest_missing_ - base_);
    // Each run of set bits in the word, found a run at a time, not a bit.
    for (int at = 0; at < 64;) {
      const std::uint64_t rest = bits >> at;
      if (rest == 0) break;
      at += std::countr_zero(rest);
      const int run = std::countr_one(bits >> at);
      const TaskId first = base_ + index * 64 + static_cast<std::uint64_t>(at);
      const TaskId last = first + static_cast<std::uint64_t>(run) - 1;
      if (!ranges.empty() && ranges.back().second + 1 == first) ranges.back().second = last;
      else ranges.emplace_back(first, last);
      at += run;
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
  if (id < lowest_missing_) {
    if (id == 0) return Outcome::out_of_range;
    return take_reopened(id, ok) ? Outcome::recorded : Outcome::duplicate;
  }
  if (id - lowest_missing_ >= max_lead || (total_ && id > *total_)) return Outcome::out_of_range;
  const std::uint64_t offset = id - base_;
  const std::size_t index = offset / 64;
  if (index >= count_) grow_to(index + 1);
  std::uint64_t& bits = word(index);
  const std::uint64_t mask = std::uint64_t{1} << (offset % 64);
  if ((bits & mask) != 0) return take_reopened(id, ok) ? Outcome::recorded : Outcome::duplicate;
  bits |= mask;
  count(id, ok);
  if (id > highest_) highest_ = id;
  if (id == lowest_missing_) advance();
  return Outcome::recorded;
}

JobLedger::Outcome JobLedger::check(TaskId id) const {
  if (id < lowest_missing_) return id == 0 ? Outcome::out_of_range : has(id) ? Outcome::duplicate : Outcome::recorded;
  if (id - lowest_missing_ >= max_lead || (total_ && id > *total_)) return Outcome::out_of_range;
  return has(id) ? Outcome::duplicate : Outcome::recorded;
}

void JobLedger::grow_to(std::size_t count) {
  if (count > words_.size())
    resize_ring(std::max(count, std::min(max_words, std::max(min_ring_words, words_.size() * 2))));
  for (std::size_t index = count_; index < count; ++index) word(index) = 0;  // may hold bits of ids long done
  count_ = count;
}

void JobLedger::resize_ring(std::size_t capacity) {
  std::vector<std::uint64_t> resized(capacity);
  for (std::size_t index = 0; index < count_; ++index) resized[index] = word(index);
  words_.swap(resized);
  head_ = 0;
}

// Moves lowest_missing_ past the ids now done, dropping whole words of them
// from the front of the ring.
void JobLedger::advance() {
  for (;;) {
    if (count_ == 0) {
      lowest_missing_ = base_;
      break;
    }
    const std::uint64_t front = words_[head_];
    if (front != ~std::uint64_t{0}) {
      lowest_missing_ = base_ + static_cast<std::uint64_t>(std::countr_one(front));
      break;
    }
    head_ = head_ + 1 == words_.size() ? 0 : head_ + 1;
    --count_;
    base_ += 64;
  }
  // A burst of scattered ids grew the ring; give the memory back once it is over.
  if (words_.size() > min_ring_words && count_ < words_.size() / 4)
    resize_ring(std::max(min_ring_words, words_.size() / 2));
}

void AckRanges::add(TaskId first, TaskId last) {
  tasks_ += last - first + 1;
  if (!ranges_.empty() && ranges_.back().second + 1 == first) {
    ranges_.back().second = last;
    return;
  }
  ranges_.emplace_back(first, last);
}

std::vector<std::pair<TaskId, TaskId>> AckRanges::take() {
  std::vector<std::pair<TaskId, TaskId>> taken;
  taken.swap(ranges_);
  tasks_ = 0;
  return taken;
}

}  // namespace zpipe
