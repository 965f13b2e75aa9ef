// What the sink knows of its job: which task ids have a result (so each id is
// printed once however often it arrives), the counts for the summary, and the
// ranges to acknowledge to the ventilator.
//
// Ids below the lowest one without a result are all done and take no memory;
// above it a sliding bitmap covers the ids in flight. A peer can make it grow
// only to max_lead bits (2 MiB), whatever ids it sends.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "zpipe/messages.hpp"

namespace zpipe {

class JobLedger {
 public:
  enum class Outcome { recorded, duplicate, out_of_range };

  /// Ids may run at most this far ahead of the lowest id without a result
  /// (id - lowest_missing < max_lead), whether or not the total is known;
  /// bounds the bitmap a peer can make us grow. Results further ahead are
  /// out_of_range, so a ventilator must keep --max-in-flight below this.
  static constexpr std::uint64_t max_lead = std::uint64_t{1} << 24;

  explicit JobLedger(std::optional<std::uint64_t> total = std::nullopt) : total_(total) {}

  /// Sets the total once the ventilator knows it. Returns false (and keeps
  /// the old state) when ids above it already have results.
  bool set_total(std::uint64_t total);
  [[nodiscard]] const std::optional<std::uint64_t>& total() const { return total_; }

  /// Returns recorded for an id new to the ledger, duplicate for one it has,
  /// out_of_range for 0, an id above the total, or one max_lead or more
  /// ahead of the lowest id without a result. Cheap: the sink's hot path.
  Outcome record(TaskId id, bool ok);
  /// What record(id) would return, without recording anything.
  [[nodiscard]] Outcome check(TaskId id) const;

  [[nodiscard]] std::uint64_t completed() const { return ok_ + failed_; }
  [[nodiscard]] std::uint64_t ok() const { return ok_; }
  [[nodiscard]] std::uint64_t failed() const { return failed_; }
  [[nodiscard]] bool complete() const { return total_ && completed() == *total_; }
  [[nodiscard]] bool has(TaskId id) const;
  /// --resume-failed: every id whose result failed is without a result
  /// again (its next result is recorded, and counted, as new). Returns how
  /// many. The ledger keeps each failed id (8 bytes) for this, and each
  /// reopened id until its new result comes.
  std::uint64_t reopen_failed();
  /// Ids reopened and still without a new result.
  [[nodiscard]] std::size_t reopened() const { return reopened_.size(); }
  /// Every id with a result, as inclusive ranges in increasing order.
  [[nodiscard]] std::vector<std::pair<TaskId, TaskId>> done_ranges() const;
  /// The bytes this ledger holds, itself included.
  [[nodiscard]] std::size_t memory_bytes() const {
    return sizeof *this + (words_.capacity() + failed_ids_.capacity()) * sizeof(std::uint64_t) + reopened_.size() * 32;
  }

 private:
  // The most bitmap words ids within max_lead of lowest_missing_ can need
  // (base_ may lie up to 63 ids below lowest_missing_).
  static constexpr std::size_t max_words = max_lead / 64 + 1;

  [[nodiscard]] std::uint64_t& word(std::size_t index) { return words_[slot(index)]; }
  [[nodiscard]] std::uint64_t word(std::size_t index) const { return words_[slot(index)]; }
  [[nodiscard]] std::size_t slot(std::size_t index) const {
    const std::size_t at = head_ + index;
    return at < words_.size() ? at : at - words_.size();
  }
  void grow_to(std::size_t count);
  void resize_ring(std::size_t capacity);
  void advance();
  void count(TaskId id, bool ok);
  // An id the bitmap marks done that was reopened: recorded now.
  bool take_reopened(TaskId id, bool ok);

  std::optional<std::uint64_t> total_;
  std::uint64_t lowest_missing_ = 1;  // every id below it is done
  // A ring of count_ words from head_: bit b of word i is id base_ + 64 i + b.
  // base_ is 1 + a multiple of 64 and at most lowest_missing_.
  std::vector<std::uint64_t> words_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::uint64_t base_ = 1;
  std::uint64_t highest_ = 0;
  std::uint64_t ok_ = 0;
  std::uint64_t failed_ = 0;
  std::vector<TaskId> failed_ids_;        // every failed id recorded, for reopen_failed()
  std::unordered_set<TaskId> reopened_;   // marked done in the bitmap, but without a result again
};

/// Task ids gathered as inclusive ranges, for the next ack message.
class AckRanges {
 public:
  void add(TaskId id) { add(id, id); }
  void add(TaskId first, TaskId last);
  [[nodiscard]] bool empty() const { return ranges_.empty(); }
  [[nodiscard]] std::size_t size() const { return ranges_.size(); }
  /// Task ids added since the last take(), an id added twice counted twice.
  [[nodiscard]] std::uint64_t tasks() const { return tasks_; }
  [[nodiscard]] const std::vector<std::pair<TaskId, TaskId>>& ranges() const { return ranges_; }
  /// Moves the ranges out.
  std::vector<std::pair<TaskId, TaskId>> take();

 private:
  std::vector<std::pair<TaskId, TaskId>> ranges_;
  std::uint64_t tasks_ = 0;
};

}  // namespace zpipe
