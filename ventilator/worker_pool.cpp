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
  bool known_before = false;
  if (const auto known = by_routing_id_.find(routing_id); known != by_routing_id_.end()) {
    slot = known->second;
    done = workers_[slot].done;
    counts_add(workers_[slot], -1);
    known_before = true;
  } else {
    if (free_slots_.empty()) {
      slot = static_cast<std::uint32_t>(workers_.size());
      workers_.emplace_back();
      place_.push_back(Place::none);
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
  std::vector<std::string> listed;
  for (std::size_t i = 0; i < kinds.size() && i < kinds_kept_at_most; ++i)
    listed.push_back(printable(kinds[i], max_name_bytes));
  if (kinds.size() > kinds_kept_at_most) listed.push_back("(" + std::to_string(kinds.size() - kinds_kept_at_most) + " more)");
  std::string joined;
  for (const auto& kind : listed) joined.append(kind).push_back('\0');
  auto& shared = kind_lists_[joined];
  if (!shared) shared = std::make_shared<const std::vector<std::string>>(std::move(listed));
  worker.kinds = shared;
  if (kind_lists_.size() > 2 * by_routing_id_.size() + 64)
    std::erase_if(kind_lists_, [](const auto& entry) { return entry.second.use_count() == 1; });
  counts_add(worker, +1);
  // A worker that says hello again may weigh less than before: every
  // other share grows.
  if (known_before) unpark_all();
  offer(slot);
  return slot;
}

bool WorkerPool::credit(const std::string& routing_id, std::uint32_t frames, Clock::time_point now) {
  const auto found = by_routing_id_.find(routing_id);
  if (found == by_routing_id_.end()) return false;
  WorkerState& worker = workers_[found->second];
  worker.credits = std::min(worker.credits + std::min(frames, max_window_frames), max_window_frames);
  worker.last_heard = now;
  offer(found->second);
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
  const bool weighed = worker.runs_kind;
  counts_add(worker, -1);
  worker = WorkerState{};
  free_slots_.push_back(slot);
  // Its share goes to the others (and if it was the last one not stalled,
  // the stalled ones may be dealt to): the parked get another look.
  if (weighed) unpark_all();
}

// Live workers that run the kind: their weight, their number, and how many
// are not stalled.
void WorkerPool::counts_add(const WorkerState& worker, int sign) {
  if (!worker.alive || !worker.runs_kind) return;
  if (sign > 0) {
    total_weight_ += worker.weight;
    ++running_kind_;
    if (!worker.stalled) ++unstalled_;
  } else {
    total_weight_ -= worker.weight;
    --running_kind_;
    if (!worker.stalled) --unstalled_;
  }
}

void WorkerPool::offer(std::uint32_t slot) {
  if (place_[slot] == Place::queued || !has_credit(workers_[slot])) return;
  place_[slot] = Place::queued;
  ready_.push_back(slot);
}

void WorkerPool::may_be_ready(std::uint32_t slot) { offer(slot); }

void WorkerPool::unpark_all() {
  for (const std::uint32_t slot : parked_)
    if (place_[slot] == Place::parked) {
      place_[slot] = Place::none;
      offer(slot);
    }
  parked_.clear();
}

void WorkerPool::set_stalled(std::uint32_t slot, bool stalled) {
  WorkerState& worker = workers_[slot];
  if (worker.stalled == stalled) return;
  counts_add(worker, -1);
  worker.stalled = stalled;
  counts_add(worker, +1);
  if (!stalled) offer(slot);
  else if (all_stalled()) unpark_all();  // the stalled are dealt to when no other is left
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
  const auto take = [&](std::uint32_t slot) {
    dealt_last_ = slot;
    workers_[slot].frames_in_a_row = 1;
    return &workers_[slot];
  };
  bool avoided = false;  // `avoid` is ready, and went to the back of the queue
  // Each entry is looked at once at most: the ready go to the back.
  for (std::size_t looks = ready_.size(); looks > 0; --looks) {
    const std::uint32_t slot = ready_.front();
    ready_.pop_front();
    ++looked_at_;
    WorkerState& worker = workers_[slot];
    if (!has_credit(worker)) {
      place_[slot] = Place::none;  // a credit queues it again
      continue;
    }
    if (!ready(worker, remaining, held_at_most, stalled_too)) {
      place_[slot] = Place::parked;  // may_be_ready() or a worker leaving queues it again
      parked_.push_back(slot);
      continue;
    }
    ready_.push_back(slot);
    if (avoid && slot == *avoid) {
      avoided = true;
      continue;
    }
    return take(slot);
  }
  return avoided ? take(*avoid) : nullptr;
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

// Among the queued only: a worker with a credit that holds nothing is
// queued or parked as stalled, and the stalled are taken only when all are
// (then none is parked). Called while suspects wait, which is rare.
WorkerState* WorkerPool::idle_worker() {
  const bool stalled_too = all_stalled();
  for (const std::uint32_t slot : ready_) {
    ++looked_at_;
    WorkerState& worker = workers_[slot];
    if (has_credit(worker) && worker.tasks_held == 0 && (!worker.stalled || stalled_too)) return &worker;
  }
  return nullptr;
}

std::string WorkerPool::kinds_listed() const {
  std::set<std::string> all;
  for (const auto& worker : workers_)
    if (worker.alive && worker.kinds) all.insert(worker.kinds->begin(), worker.kinds->end());
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
