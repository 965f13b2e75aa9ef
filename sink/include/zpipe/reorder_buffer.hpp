// --keep-order: results wait here until every earlier task id has one, then
// leave in id order. Task ids are dealt in input order from 1, and the sink's
// lowest id without a result is where printing stands, so the buffer needs
// no state of its own beyond the results it holds.
//
// The buffer is bounded by the ventilator, not by refusing results: the
// sink tells it --reorder-buffer N in job_accepted, and it deals no id more
// than N past its lowest unacknowledged one (PROTOCOL.md §6.8). A result is
// acknowledged as soon as it is recorded (and durable, with a journal), held
// or not, so a worker holding the slow task is the only one kept waiting.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "zpipe/messages.hpp"

namespace zpipe {

class ReorderBuffer {
 public:
  /// `limit`: the most results meant to wait (--reorder-buffer).
  explicit ReorderBuffer(std::uint64_t limit) : limit_(limit) {}

  /// Takes the first result recorded for its id (the caller's ledger drops
  /// duplicates). Calls release(result, worker) for it when it is the next
  /// id, then for every held result it frees, in id order; otherwise holds
  /// a copy. Returns false when the result lies beyond the limit (a
  /// ventilator that does not honour it): it is held all the same, since
  /// dropping it would lose it, and the caller says so.
  template <class Release>
  bool take(const Result& result, std::string_view worker, Release&& release) {
    if (result.id != next_) {
      const bool within = result.id - next_ <= limit_;
      bytes_ += held_bytes(result, worker);
      held_.emplace(result.id, Held{result, std::string(worker)});
      peak_ = std::max<std::uint64_t>(peak_, held_.size());
      return within;
    }
    release(result, worker);
    ++next_;
    for (auto first = held_.begin(); first != held_.end() && first->first == next_; first = held_.erase(first)) {
      bytes_ -= held_bytes(first->second.result, first->second.worker);
      release(first->second.result, std::string_view(first->second.worker));
      ++next_;
    }
    return true;
  }

  /// The lowest id not yet released: every id below it has been.
  [[nodiscard]] TaskId next() const { return next_; }
  [[nodiscard]] std::uint64_t limit() const { return limit_; }
  [[nodiscard]] std::uint64_t held() const { return held_.size(); }
  /// The most results held at once so far.
  [[nodiscard]] std::uint64_t peak() const { return peak_; }
  /// About the bytes the held results take.
  [[nodiscard]] std::size_t bytes() const { return bytes_; }

 private:
  struct Held {
    Result result;
    std::string worker;
  };
  static std::size_t held_bytes(const Result& result, std::string_view worker);

  std::uint64_t limit_;
  TaskId next_ = 1;
  std::map<TaskId, Held> held_;
  std::uint64_t peak_ = 0;
  std::size_t bytes_ = 0;
};

}  // namespace zpipe
