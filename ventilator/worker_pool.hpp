// The workers the ventilator knows, by ROUTER routing id, with the credits
// each has granted (task frames it may still be sent).
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
  std::uint32_t weight = 1;     // its first window: proportional to its threads
  std::uint64_t tasks_held = 0;  // dealt to it and not yet acknowledged
  std::uint64_t frames_sent = 0;
  std::chrono::steady_clock::time_point last_heard;
};

class WorkerPool {
 public:
  /// A worker said hello: (re)sets its credits to its window. Returns true
  /// when it was not known before.
  bool hello(const std::string& routing_id, std::string name, std::uint32_t window);
  /// Adds credits. Returns false when the routing id is unknown.
  bool credit(const std::string& routing_id, std::uint32_t frames);

  /// The next worker, in turn, with a credit and fewer tasks than its share
  /// of `remaining` tasks (no limit while that is unknown); nullptr when
  /// there is none.
  WorkerState* next_to_deal(std::optional<std::uint64_t> remaining);

  [[nodiscard]] WorkerState& at(std::uint32_t slot) { return workers_[slot]; }
  [[nodiscard]] std::uint32_t slot_of(const WorkerState& worker) const {
    return static_cast<std::uint32_t>(&worker - workers_.data());
  }

  [[nodiscard]] std::size_t size() const { return workers_.size(); }
  [[nodiscard]] const std::vector<WorkerState>& all() const { return workers_; }

 private:
  std::vector<WorkerState> workers_;
  std::unordered_map<std::string, std::size_t> by_routing_id_;
  std::size_t turn_ = 0;
  std::uint64_t total_weight_ = 0;
};

}  // namespace zpipe
