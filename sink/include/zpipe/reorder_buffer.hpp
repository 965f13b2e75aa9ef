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
//
// With two workers, half the results arrive ahead of an earlier frame and
// wait. They wait in a ring of slots indexed by id - next(), not in a tree
// with a node and a copy of the worker's name per result: at millions of
// results a second the tree's allocations and rebalancing were most of what
// --keep-order cost the sink.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "zpipe/messages.hpp"
#include "zpipe/ring_buffer.hpp"

namespace zpipe {

class ReorderBuffer {
 public:
  /// `limit`: the most results meant to wait (--reorder-buffer).
  explicit ReorderBuffer(std::uint64_t limit) : limit_(limit) {}

  /// Takes a result recorded for its id (the caller's ledger drops
  /// duplicates). Calls release(result, worker) for it when it is the next
  /// id, then for every held result it frees, in id order; otherwise holds
  /// a copy. Returns false when the result lies beyond the limit (a
  /// ventilator that does not honour it): it is held all the same, since
  /// dropping it would lose it, and the caller says so.
  ///
  /// --resume-failed records a failed task's rerun again: one already
  /// released is released at once (nothing before it is missing), as
  /// without --keep-order; one still held replaces the failure it holds.
  template <class Release>
  bool take(const Result& result, std::string_view worker, Release&& release) {
    if (result.id < next_) {
      release(result, worker);
      return true;
    }
    if (result.id != next_) return hold(result, worker);
    release(result, worker);
    for (;;) {
      ++next_;
      if (!slots_.empty()) slots_.pop_front();  // the slot of the id just released
      if (!slots_.empty() && slots_.front().held) {
        Slot& slot = slots_.front();
        unhold(slot);
        release(slot.result, std::string_view(names_[slot.worker].text));
        continue;
      }
      const auto beyond = beyond_.begin();
      if (beyond == beyond_.end() || beyond->first != next_) return true;
      bytes_ -= beyond_bytes(beyond->second);
      release(beyond->second.result, std::string_view(beyond->second.worker));
      beyond_.erase(beyond);
    }
  }

  /// The lowest id not yet released: every id below it has been.
  [[nodiscard]] TaskId next() const { return next_; }
  [[nodiscard]] std::uint64_t limit() const { return limit_; }
  [[nodiscard]] std::uint64_t held() const { return held_ + beyond_.size(); }
  /// The most results held at once so far.
  [[nodiscard]] std::uint64_t peak() const { return peak_; }
  /// About the bytes the held results take, with the slots between them.
  [[nodiscard]] std::size_t bytes() const { return bytes_ + slots_.size() * sizeof(Slot); }

 private:
  // The slot of id next() + i is slots_[i]; those of ids without a result
  // yet are empty.
  struct Slot {
    Result result;
    std::uint32_t worker = 0;  // in names_
    bool held = false;
  };
  // A worker's name, kept once for all the results of it held.
  struct Name {
    std::string text;
    std::uint64_t held = 0;
  };
  struct Beyond {
    Result result;
    std::string worker;
  };

  bool hold(const Result& result, std::string_view worker);
  /// Counts a held slot's result out; it stays in the slot.
  void unhold(Slot& slot);
  std::uint32_t name_of(std::string_view worker);
  /// The bytes a value takes beyond its Result.
  static std::size_t value_bytes(const Result& result);
  static std::size_t beyond_bytes(const Beyond& held);

  std::uint64_t limit_;
  TaskId next_ = 1;
  RingBuffer<Slot> slots_;
  std::uint64_t held_ = 0;  // in slots_
  std::size_t bytes_ = 0;   // value_bytes() of slots_' results, beyond_bytes() of beyond_'s
  std::vector<Name> names_;
  std::uint32_t last_name_ = 0;
  // Results beyond the limit, from a ventilator that does not honour it:
  // held by id, so slots_ stays within the limit whatever it is sent.
  std::map<TaskId, Beyond> beyond_;
  std::uint64_t peak_ = 0;
};

}  // namespace zpipe
