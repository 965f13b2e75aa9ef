// The workers the ventilator knows, by ROUTER routing id: the credits each
// has granted (task frames it may still be sent), the tasks it holds, and
// when it was last heard from. A worker's slot never changes, so tasks can
// name their holder by slot; a worker taken for gone keeps its slot, dead.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace zpipe {

struct WorkerState {
  std::string routing_id;
  std::string name;
  std::uint32_t credits = 0;
  std::uint32_t weight = 1;      // its first window: proportional to its threads
  std::uint64_t tasks_held = 0;  // dealt to it and not yet acknowledged
  bool alive = true;
  bool isolating = false;        // runs one suspect task alone: is dealt nothing else
  std::chrono::steady_clock::time_point last_heard;
};

class WorkerPool {
 public:
  using Clock = std::chrono::steady_clock;

  /// A worker said hello: (re)sets its credits to its window and brings it
  /// back if it was taken for gone. Returns its slot.
  std::uint32_t hello(const std::string& routing_id, std::string name, std::uint32_t window, Clock::time_point now);
  /// Adds credits. Returns false when no live worker has that routing id.
  bool credit(const std::string& routing_id, std::uint32_t frames, Clock::time_point now);

  /// Marks workers not heard from for `timeout` as gone; returns their slots.
  std::vector<std::uint32_t> expire(Clock::time_point now, std::chrono::milliseconds timeout);

  /// The next live worker, in turn, with a credit and fewer tasks than its
  /// share of `remaining` tasks (no limit while that is unknown); nullptr
  /// when there is none.
  WorkerState* next_to_deal(std::optional<std::uint64_t> remaining);
  /// A live worker with a credit that holds nothing, to run a task alone.
  WorkerState* idle_worker();

  [[nodiscard]] WorkerState& at(std::uint32_t slot) { return workers_[slot]; }
  [[nodiscard]] std::uint32_t slot_of(const WorkerState& worker) const {
    return static_cast<std::uint32_t>(&worker - workers_.data());
  }
  [[nodiscard]] std::size_t alive() const { return alive_; }
  [[nodiscard]] const std::vector<WorkerState>& all() const { return workers_; }

 private:
  std::vector<WorkerState> workers_;
  std::unordered_map<std::string, std::uint32_t> by_routing_id_;
  std::size_t turn_ = 0;
  std::size_t alive_ = 0;
  std::uint64_t total_weight_ = 0;  // of live workers
};

}  // namespace zpipe
