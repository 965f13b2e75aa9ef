// See worker_pool.hpp.
#include "worker_pool.hpp"

#include <algorithm>

#include "zpipe/messages.hpp"

namespace zpipe {

bool WorkerPool::hello(const std::string& routing_id, std::string name, std::uint32_t window) {
  const auto now = std::chrono::steady_clock::now();
  if (const auto found = by_routing_id_.find(routing_id); found != by_routing_id_.end()) {
    WorkerState& worker = workers_[found->second];
    worker.name = std::move(name);
    worker.credits = std::min(window, max_window_frames);
    worker.last_heard = now;
    return false;
  }
  by_routing_id_.emplace(routing_id, workers_.size());
  const std::uint32_t credits = std::min(window, max_window_frames);
  workers_.push_back(WorkerState{routing_id, std::move(name), credits, std::max(credits, 1u), 0, 0, now});
  total_weight_ += workers_.back().weight;
  return true;
}

bool WorkerPool::credit(const std::string& routing_id, std::uint32_t frames) {
  const auto found = by_routing_id_.find(routing_id);
  if (found == by_routing_id_.end()) return false;
  WorkerState& worker = workers_[found->second];
  worker.credits = std::min(worker.credits + std::min(frames, max_window_frames), max_window_frames);
  worker.last_heard = std::chrono::steady_clock::now();
  return true;
}

// Shares keep the end of a job fair: workers that asked for deep backlogs
// while tasks were quick cannot take the whole tail between them.
WorkerState* WorkerPool::next_to_deal(std::optional<std::uint64_t> remaining) {
  for (std::size_t looked = 0; looked < workers_.size(); ++looked) {
    WorkerState& worker = workers_[turn_ % workers_.size()];
    ++turn_;
    if (worker.credits == 0) continue;
    if (!remaining) return &worker;
    const std::uint64_t share = *remaining / total_weight_ * worker.weight +
                                (*remaining % total_weight_) * worker.weight / total_weight_ + 1;
    if (worker.tasks_held < share) return &worker;
  }
  return nullptr;
}

}  // namespace zpipe
