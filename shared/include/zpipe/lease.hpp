// Task leases (PROTOCOL.md §6.5): the ventilator signs each run of task ids
// it deals to a worker with a secret the sink chose for the job, bound to
// the worker's key; the worker hands the leases back with its results, and
// the sink accepts a result only under a lease for that id and that key.
// A lease costs one keyed hash per run of ids on each side and no state:
// neither side looks anything up per task.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "zpipe/messages.hpp"

namespace zpipe {

/// The per-job secret's length, and a token's.
inline constexpr std::size_t lease_secret_bytes = 16;
inline constexpr std::size_t lease_token_bytes = 16;

/// A fresh random secret, from the operating system's generator.
[[nodiscard]] std::string random_lease_secret();

/// The token of ids first..last of `job`, dealt to `worker_key` (the
/// 32-byte CURVE public key; empty in plaintext, hashed as 32 zero bytes).
[[nodiscard]] std::array<char, lease_token_bytes> lease_token(std::string_view secret, JobId job, TaskId first, TaskId last,
                                      std::string_view worker_key);

/// Appends to `leases` one lease per run of consecutive ids in `tasks`. The
/// first run's lease starts at `first_run_from` instead, when that is lower:
/// the dealer passes the start of the run it dealt the same worker just
/// before, so that the new lease covers both (the worker then returns only
/// the wider one).
void sign_leases(std::string_view secret, JobId job, const std::vector<Task>& tasks, std::string_view worker_key,
                 std::vector<Lease>& leases, TaskId first_run_from = ~TaskId{0});

/// Appends `more` to `leases`, a lease that widens the last one (same first
/// id, a later last) replacing it: a worker dealt one run over several
/// frames gets a wider lease with each, and the widest covers them all.
void append_leases(std::vector<Lease>& leases, const std::vector<Lease>& more);

/// The ranges of `leases` whose token is right for `worker_key`, sorted by
/// first id; `bad` counts those whose token is not. Reusable: check() keeps
/// the memory of the frame before.
class LeasedRanges {
 public:
  LeasedRanges() = default;
  LeasedRanges(std::string_view secret, JobId job, const std::vector<Lease>& leases, std::string_view worker_key) {
    check(secret, job, leases, worker_key);
  }
  void check(std::string_view secret, JobId job, const std::vector<Lease>& leases, std::string_view worker_key);
  /// Fastest when asked in ascending order, as results come.
  [[nodiscard]] bool covers(TaskId id) const;
  [[nodiscard]] std::size_t bad() const { return bad_; }

 private:
  std::vector<std::pair<TaskId, TaskId>> ranges_;
  std::size_t bad_ = 0;
  mutable std::size_t at_ = 0;  // where the last covers() found its id
};

}  // namespace zpipe
