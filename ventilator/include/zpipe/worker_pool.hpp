// The workers the ventilator knows, by ROUTER routing id: the credits each
// has granted (task frames it may still be sent), the tasks it holds, and
// when it was last heard from. Credits live here and nowhere else. Tasks
// name their holder by slot; a worker that is gone frees its slot for the
// next one, so memory follows the workers connected, not all that ever were.
//
// Choosing whom to deal to is O(1) amortised whatever the number of
// workers: a ready queue holds, in turn, the workers that have a credit.
// One found not ready (it holds its share, is stalled or isolating) is
// parked, and comes back when the core says that its state changed
// (may_be_ready) or when every share grows (a worker left). Each slot is in
// the queue or parked at most once, so every look is paid for by the event
// that queued it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace zpipe {

struct WorkerState {
  std::string routing_id;
  std::string name;              // as the worker gave it, capped and made printable
  std::uint32_t credits = 0;
  std::uint32_t weight = 1;      // its first window: proportional to its threads
  std::uint64_t tasks_held = 0;  // dealt to it and not yet acknowledged
  std::uint64_t done = 0;        // its tasks the sink acknowledged (zpipe-status)
  std::string host;              // where its connection comes from, for zpipe-status
  bool alive = false;
  bool isolating = false;        // runs one suspect task alone: is dealt nothing else
  bool runs_kind = true;         // its hello lists the job's kind (or lists none): it may be dealt tasks
  std::chrono::steady_clock::time_point last_heard;
  bool stalled = false;          // held a task past --task-timeout: dealt nothing until a result of it is acknowledged
  std::string key;               // its CURVE public key (empty in plaintext): leases name it
  // With --task-timeout: the runs of ids dealt to it, oldest first.
  struct Dealt {
    std::chrono::steady_clock::time_point at;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
  };
  // Made on the first run dealt: an empty std::deque allocates (about
  // 600 bytes in libstdc++), which is most of a worker's state.
  std::optional<std::deque<Dealt>> dealt;
  // As its hello listed them, capped and printable, for log lines; shared
  // by the workers that listed the same kinds (most list the same few).
  std::shared_ptr<const std::vector<std::string>> kinds;
  // The run of consecutive ids dealt to it last, across frames, in job
  // run_job: a frame that goes on from it gets one lease for the whole run,
  // so the worker returns one lease, not one per frame (PROTOCOL.md §6.5).
  bool run_open = false;
  std::uint64_t run_job = 0;
  std::uint64_t run_first = 0;
  std::uint64_t run_last = 0;
  std::uint32_t frames_in_a_row = 0;  // frames next_to_deal() gave it since it gave another worker one
  std::uint32_t bundle = 1;           // frames it takes in one message (hello.bundle)
};

class WorkerPool {
 public:
  using Clock = std::chrono::steady_clock;
  /// Worker names are cut to this many bytes in logs and summaries.
  static constexpr std::size_t max_name_bytes = 64;

  /// Kinds kept per worker for log lines; the rest are counted, not kept.
  static constexpr std::size_t kinds_kept_at_most = 32;

  /// A worker said hello: its credits become its window. A worker already
  /// known keeps its slot (the caller first takes back what it held). One
  /// that does not run the job's kind (`runs_kind` false) is known, and
  /// kept alive by its credits, but never dealt to. Returns its slot.
  std::uint32_t hello(const std::string& routing_id, std::string_view name, std::uint32_t window,
                      Clock::time_point now, bool runs_kind = true, const std::vector<std::string>& kinds = {});
  /// Adds credits. Returns false when no live worker has that routing id.
  bool credit(const std::string& routing_id, std::uint32_t frames, Clock::time_point now);
  /// The slot of a live worker, if there is one with that routing id.
  [[nodiscard]] std::optional<std::uint32_t> find(std::string_view routing_id) const;
  /// Forgets a worker; its slot may be reused. The caller has taken back its tasks.
  void remove(std::uint32_t slot);

  /// Live workers not heard from for `timeout`.
  [[nodiscard]] std::vector<std::uint32_t> silent(Clock::time_point now, std::chrono::milliseconds timeout) const;

  /// The next live worker, in turn, with a credit, fewer than `held_at_most`
  /// tasks and fewer than its share of `remaining` tasks (no share while
  /// that is unknown); nullptr when there is none. The worker dealt last
  /// stays next, while ready and with credit for twice as many, for up to
  /// `frames_in_a_row` frames (see deal_in_runs_of). A worker in slot `avoid` (one that failed the task to
  /// deal, --retries) is taken only when no other is ready.
  WorkerState* next_to_deal(std::optional<std::uint64_t> remaining, std::uint64_t held_at_most = ~std::uint64_t{0},
                            std::optional<std::uint32_t> avoid = std::nullopt);
  /// How many frames in a row one worker may be dealt (1, the default, is
  /// strict turns). Small frames dealt in a row carry consecutive ids, which
  /// one lease covers (PROTOCOL.md §6.5): the worker returns, and the sink
  /// checks, one lease per run instead of one per frame.
  void deal_in_runs_of(std::uint32_t frames) { frames_in_a_row_ = std::max(frames, 1u); }
  /// The frames one worker is dealt in a row (deal_in_runs_of).
  [[nodiscard]] std::uint32_t run_frames() const { return frames_in_a_row_; }
  /// A live worker with a credit that holds nothing, to run a task alone.
  WorkerState* idle_worker();

  /// The core changed what a worker holds, or cleared its isolation: if it
  /// has a credit and was parked, it is queued again. O(1).
  void may_be_ready(std::uint32_t slot);
  /// Marks a worker stalled (held a task past --task-timeout) or not.
  void set_stalled(std::uint32_t slot, bool stalled);
  /// Workers looked at by next_to_deal() and idle_worker() so far: what
  /// choosing costs (tests compare it with the deals made).
  [[nodiscard]] std::uint64_t looked_at() const { return looked_at_; }

  [[nodiscard]] WorkerState& at(std::uint32_t slot) { return workers_[slot]; }
  [[nodiscard]] std::uint32_t slot_of(const WorkerState& worker) const {
    return static_cast<std::uint32_t>(&worker - workers_.data());
  }
  [[nodiscard]] std::size_t alive() const { return by_routing_id_.size(); }
  /// Live workers that run the job's kind.
  [[nodiscard]] std::size_t running_kind() const { return running_kind_; }
  /// The kinds the live workers listed, sorted, comma-separated, for a log line.
  [[nodiscard]] std::string kinds_listed() const;
  /// Every slot, live or free (skip those not alive).
  [[nodiscard]] const std::vector<WorkerState>& slots() const { return workers_; }

 private:
  enum class Place : unsigned char { none, queued, parked };

  [[nodiscard]] bool all_stalled() const { return unstalled_ == 0; }
  [[nodiscard]] bool ready(const WorkerState& worker, std::optional<std::uint64_t> remaining,
                           std::uint64_t held_at_most, bool stalled_too) const;
  /// Alive, runs the kind, has a credit: worth a place in the queue.
  [[nodiscard]] static bool has_credit(const WorkerState& worker) {
    return worker.alive && worker.runs_kind && worker.credits > 0;
  }
  void offer(std::uint32_t slot);
  void unpark_all();
  void counts_add(const WorkerState& worker, int sign);

  std::vector<WorkerState> workers_;
  // Where each slot is; kept apart from WorkerState, which is reset when a
  // worker says hello or leaves while its slot may still sit in ready_.
  std::vector<Place> place_;
  std::deque<std::uint32_t> ready_;     // slots with (at the time) a credit, in turn
  std::vector<std::uint32_t> parked_;   // slots found not ready; stale entries skipped
  std::size_t unstalled_ = 0;           // live workers that run the kind and are not stalled
  std::uint64_t looked_at_ = 0;
  // Kind lists by their kinds joined, shared between the workers that
  // listed the same; lists no worker uses are dropped once the map holds
  // more than twice the live workers.
  std::unordered_map<std::string, std::shared_ptr<const std::vector<std::string>>> kind_lists_;
  std::vector<std::uint32_t> free_slots_;
  std::unordered_map<std::string, std::uint32_t> by_routing_id_;
  std::optional<std::uint32_t> dealt_last_;  // the slot next_to_deal() returned last
  std::uint32_t frames_in_a_row_ = 1;
  std::uint64_t total_weight_ = 0;  // of live workers that run the job's kind
  std::size_t running_kind_ = 0;
};

}  // namespace zpipe
