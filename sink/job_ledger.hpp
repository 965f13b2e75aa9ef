// What the sink knows of its job: which task ids have a result (a bitmap, so
// each id is printed once however often it arrives), the counts for the
// summary, and the ranges to acknowledge to the ventilator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "zpipe/messages.hpp"

namespace zpipe {

class JobLedger {
 public:
  enum class Outcome { recorded, duplicate, out_of_range };

  /// While the total is unknown, ids may run at most this far ahead of the
  /// lowest id without a result; bounds the bitmap a peer can make us grow.
  static constexpr std::uint64_t max_lead = std::uint64_t{1} << 26;

  explicit JobLedger(std::optional<std::uint64_t> total = std::nullopt) : total_(total) {}

  /// Sets the total once the ventilator knows it. Returns false (and keeps
  /// the old state) when ids above it already have results.
  bool set_total(std::uint64_t total);
  [[nodiscard]] const std::optional<std::uint64_t>& total() const { return total_; }

  Outcome record(TaskId id, bool ok);

  [[nodiscard]] std::uint64_t completed() const { return ok_ + failed_; }
  [[nodiscard]] std::uint64_t ok() const { return ok_; }
  [[nodiscard]] std::uint64_t failed() const { return failed_; }
  [[nodiscard]] bool complete() const { return total_ && completed() == *total_; }
  [[nodiscard]] bool has(TaskId id) const;
  [[nodiscard]] std::size_t memory_bytes() const { return bits_.capacity() * sizeof(std::uint64_t); }
  /// Every id with a result, as inclusive ranges in increasing order.
  [[nodiscard]] std::vector<std::pair<TaskId, TaskId>> done_ranges() const;

 private:
  std::optional<std::uint64_t> total_;
  std::vector<std::uint64_t> bits_;  // bit id-1
  std::uint64_t highest_ = 0;
  std::uint64_t lowest_missing_ = 1;
  std::uint64_t ok_ = 0;
  std::uint64_t failed_ = 0;
};

/// Task ids gathered as inclusive ranges, for the next ack message.
class AckRanges {
 public:
  void add(TaskId id) { add(id, id); }
  void add(TaskId first, TaskId last);
  [[nodiscard]] bool empty() const { return ranges_.empty(); }
  [[nodiscard]] std::size_t size() const { return ranges_.size(); }
  [[nodiscard]] const std::vector<std::pair<TaskId, TaskId>>& ranges() const { return ranges_; }
  /// Moves the ranges out.
  std::vector<std::pair<TaskId, TaskId>> take();

 private:
  std::vector<std::pair<TaskId, TaskId>> ranges_;
};

}  // namespace zpipe
