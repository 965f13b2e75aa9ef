// See worker_pool.hpp.
#include "zpipe/worker_pool.hpp"

#include <algorithm>
#include <set>

#include "zpipe/log.hpp"
#include "zpipe/messages.hpp"

namespace zpipe {

std::uint32_t WorkerPool::hello(const std::string& routing_id, std::string_view name, std::uint32_t window,
                                 Clock::time_point now, bool runs_kind, const std::vector<std::string>& kinds) {
  const std::uint32_t credits = std::min(window, max_window_frames);
  std::uint32_t slot = 0;
  std::uint64_t done = 0;  // a worker that says hello again keeps its count
  if (const auto known = by_routing_id_.find(routing_id); known != by_routing_id_.end()) {
    slot = known->second;
    done = workers_[slot].done;
    if (workers_[slot].runs_kind) {
      total_weight_ -= workers_[slot].weight;
      --running_kind_;
    }
  } else {
    if (free_slots_.empty()) {
      slot = static_cast<std::uint32_t>(workers_.size());
      workers_.emplace_back();
    } else {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    by_routing_id_.emplace(routing_id, slot);
  }
  WorkerState& worker = workers_[slot];
  worker = WorkerState{};
  worker.routing_id = routing_id;
  worker.name = printable(name, max_name_bytes);
  worker.credits = credits;
  worker.weight = std::max(credits, 1u);
  worker.alive = true;
  worker.runs_kind = runs_kind;
  worker.last_heard = now;
  worker.done = done;
  for (std::size_t i = 0; i < kinds.size() && i < kinds_kept_at_most; ++i)
    worker.kinds.push_back(printable(kinds[i], max_name_bytes));
  if (kinds.size() > kinds_kept_at_most) worker.kinds.push_back("(" + std::to_string(kinds.size() - kinds_kept_at_most) + " more)");
  if (runs_kind) {
    total_weight_ += worker.weight;
    ++running_kind_;
  }
  return slot;
}

bool WorkerPool::credit(const std::string& routing_id, std::uint32_t frames, Clock::time_point now) {
  const auto found = by_routing_id_.find(routing_id);
  if (found == by_routing_id_.end()) return false;
  WorkerState& worker = workers_[found->second];
  worker.credits = std::min(worker.credits + std::min(frames, max_window_frames), max_window_frames);
  worker.last_heard = now;
  return true;
}

std::optional<std::uint32_t> WorkerPool::find(std::string_view routing_id) const {
  const auto found = by_routing_id_.find(std::string(routing_id));
  if (found == by_routing_id_.end()) return std::nullopt;
  return found->second;
}

void WorkerPool::remove(std::uint32_t slot) {
  WorkerState& worker = workers_[slot];
  if (!worker.alive) return;
  by_routing_id_.erase(worker.routing_id);
  if (worker.runs_kind) {
    total_weight_ -= worker.weight;
    --running_kind_;
  }
  worker = WorkerState{};
  free_slots_.push_back(slot);
}

std::vector<std::uint32_t> WorkerPool::silent(Clock::time_point now, std::chrono::milliseconds timeout) const {
  std::vector<std::uint32_t> gone;
  for (const auto& [routing_id, slot] : by_routing_id_)
    if (now - workers_[slot].last_heard >= timeout) gone.push_back(slot);
  std::sort(gone.begin(), gone.end());  // a deterministic order, whatever the hash map's
  return gone;
}

// Shares keep the end of a job fair: workers that asked for deep backlogs
// while tasks were quick cannot take the whole tail between them.
WorkerState* WorkerPool::next_to_deal(std::optional<std::uint64_t> remaining, std::uint64_t held_at_most,
                                      std::optional<std::uint32_t> avoid) {
  const bool stalled_too = all_stalled();
  if (!avoid && dealt_last_ && *dealt_last_ < workers_.size()) {
    WorkerState& last = workers_[*dealt_last_];
    // Only a worker whose window is deep (tasks it runs in well under a
    // millisecond) is dealt in a row: one with slow tasks has few credits,
    // and the others must not wait while it holds them.
    if (last.frames_in_a_row < frames_in_a_row_ && last.credits >= 2 * frames_in_a_row_ &&
        ready(last, remaining, held_at_most, stalled_too)) {
      ++last.frames_in_a_row;
      return &last;
    }
  }
  const auto take = [&](std::size_t slot) {
    dealt_last_ = static_cast<std::uint32_t>(slot);
    workers_[slot].frames_in_a_row = 1;
    return &workers_[slot];
  };
  for (std::size_t looked = 0; looked < workers_.size(); ++looked) {
    const std::size_t slot = turn_ % workers_.size();
    ++turn_;
    if ((!avoid || slot != *avoid) && ready(workers_[slot], remaining, held_at_most, stalled_too)) return take(slot);
  }
  if (avoid && *avoid < workers_.size() && ready(workers_[*avoid], remaining, held_at_most, stalled_too))
    return take(*avoid);
  return nullptr;
}

bool WorkerPool::ready(const WorkerState& worker, std::optional<std::uint64_t> remaining, std::uint64_t held_at_most,
                       bool stalled_too) const {
  if (!worker.alive || !worker.runs_kind || worker.credits == 0 || worker.isolating || (worker.stalled && !stalled_too) ||
      worker.tasks_held >= held_at_most)
    return false;
  if (!remaining) return true;
  const std::uint64_t share = *remaining / total_weight_ * worker.weight +
                              (*remaining % total_weight_) * worker.weight / total_weight_ + 1;
  return worker.tasks_held < share;
}

// A stalled worker is passed over while any other that runs the job's kind
// is live; when all are stalled, the timeout was too short for this work,
// and they are dealt to. (A worker that lacks the kind takes nothing, so it
// cannot stand in for a stalled one.)
bool WorkerPool::all_stalled() const {
  return std::none_of(workers_.begin(), workers_.end(),
                      [](const WorkerState& worker) { return worker.alive && worker.runs_kind && !worker.stalled; });
}

WorkerState* WorkerPool::idle_worker() {
  const bool stalled_too = all_stalled();
  for (auto& worker : workers_)
    if (worker.alive && worker.runs_kind && worker.credits > 0 && worker.tasks_held == 0 && (!worker.stalled || stalled_too)) return &worker;
  return nullptr;
}

std::string WorkerPool::kinds_listed() const {
  std::set<std::string> all;
  for (const auto& worker : workers_)
    if (worker.alive) all.insert(worker.kinds.begin(), worker.kinds.end());
  constexpr std::size_t listed_at_most = 40;
  std::string text;
  std::size_t listed = 0;
  for (const auto& kind : all) {
    if (listed++ == listed_at_most) return text + ", …";
    text += (text.empty() ? "" : ", ") + kind;
  }
  return text.empty() ? "no kind" : text;
}

}  // namespace zpipe
