// See worker_pool.hpp.
#include "worker_pool.hpp"

#include <algorithm>

#include "zpipe/messages.hpp"

namespace zpipe {

std::uint32_t WorkerPool::hello(const std::string& routing_id, std::string name, std::uint32_t window,
                                 Clock::time_point now) {
  const std::uint32_t credits = std::min(window, max_window_frames);
  auto [found, added] = by_routing_id_.emplace(routing_id, static_cast<std::uint32_t>(workers_.size()));
  if (added) workers_.push_back(WorkerState{routing_id, {}, 0, 0, 0, false, false, now});
  WorkerState& worker = workers_[found->second];
  if (worker.alive) total_weight_ -= worker.weight;
  worker.name = std::move(name);
  worker.credits = credits;
  worker.weight = std::max(credits, 1u);
  worker.last_heard = now;
  if (!worker.alive) ++alive_;
  worker.alive = true;
  total_weight_ += worker.weight;
  return found->second;
}

bool WorkerPool::credit(const std::string& routing_id, std::uint32_t frames, Clock::time_point now) {
  const auto found = by_routing_id_.find(routing_id);
  if (found == by_routing_id_.end() || !workers_[found->second].alive) return false;
  WorkerState& worker = workers_[found->second];
  worker.credits = std::min(worker.credits + std::min(frames, max_window_frames), max_window_frames);
  worker.last_heard = now;
  return true;
}

std::vector<std::uint32_t> WorkerPool::expire(Clock::time_point now, std::chrono::milliseconds timeout) {
  std::vector<std::uint32_t> gone;
  for (auto& worker : workers_) {
    if (!worker.alive || now - worker.last_heard < timeout) continue;
    worker.alive = false;
    worker.credits = 0;
    --alive_;
    total_weight_ -= worker.weight;
    gone.push_back(slot_of(worker));
  }
  return gone;
}

// Shares keep the end of a job fair: workers that asked for deep backlogs
// while tasks were quick cannot take the whole tail between them.
WorkerState* WorkerPool::next_to_deal(std::optional<std::uint64_t> remaining) {
  for (std::size_t looked = 0; looked < workers_.size(); ++looked) {
    WorkerState& worker = workers_[turn_ % workers_.size()];
    ++turn_;
    if (!worker.alive || worker.credits == 0 || worker.isolating) continue;
    if (!remaining) return &worker;
    const std::uint64_t share = *remaining / total_weight_ * worker.weight +
                                (*remaining % total_weight_) * worker.weight / total_weight_ + 1;
    if (worker.tasks_held < share) return &worker;
  }
  return nullptr;
}

WorkerState* WorkerPool::idle_worker() {
  for (auto& worker : workers_)
    if (worker.alive && worker.credits > 0 && worker.tasks_held == 0) return &worker;
  return nullptr;
}

}  // namespace zpipe
