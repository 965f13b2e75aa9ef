// See lease.hpp. The token is SipHash-2-4 with a 128-bit output (libsodium's
// crypto_shorthash_siphashx24), keyed with the job's secret: a pseudorandom
// function, so without the secret a token cannot be told from random and a
// forger's chance per try is 2^-128. It takes ~30 ns for the 56 bytes hashed,
// which keeps leases affordable at millions of task frames a second.
#include "zpipe/lease.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

namespace zpipe {
namespace {

static_assert(crypto_shorthash_siphashx24_BYTES == lease_token_bytes);
static_assert(crypto_shorthash_siphashx24_KEYBYTES == lease_secret_bytes);
constexpr std::size_t key_bytes = 32;
constexpr char zero_secret[16] = {};

void put_u64(unsigned char* out, std::uint64_t number) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(number >> (8 * i));
}

}  // namespace

std::string random_lease_secret() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot start: no random numbers for the lease secret");
  std::string secret(lease_secret_bytes, '\0');
  randombytes_buf(secret.data(), secret.size());
  return secret;
}

std::array<char, lease_token_bytes> lease_token(std::string_view secret, JobId job, TaskId first, TaskId last,
                                                std::string_view worker_key) {
  if (secret.size() != lease_secret_bytes) throw std::invalid_argument("a lease secret has 16 bytes");
  // job, first, last (little-endian u64 each), then the worker's key.
  unsigned char input[24 + key_bytes] = {};
  put_u64(input, job);
  put_u64(input + 8, first);
  put_u64(input + 16, last);
  std::copy_n(worker_key.data(), std::min(worker_key.size(), key_bytes), input + 24);
  std::array<char, lease_token_bytes> token{};
  crypto_shorthash_siphashx24(reinterpret_cast<unsigned char*>(token.data()), input, sizeof input,
                              reinterpret_cast<const unsigned char*>(secret.data()));
  return token;
}

void sign_leases(std::string_view secret, JobId job, const std::vector<Task>& tasks, std::string_view worker_key,
                 std::vector<Lease>& leases, TaskId first_run_from) {
  for (std::size_t at = 0; at < tasks.size();) {
    std::size_t end = at + 1;
    while (end < tasks.size() && tasks[end].id == tasks[end - 1].id + 1) ++end;
    const TaskId first = at == 0 ? std::min(tasks[at].id, first_run_from) : tasks[at].id, last = tasks[end - 1].id;
    leases.push_back(Lease{first, last, lease_token(secret, job, first, last, worker_key)});
    at = end;
  }
}

void append_leases(std::vector<Lease>& leases, const std::vector<Lease>& more) {
  for (const Lease& lease : more) {
    if (!leases.empty() && leases.back().first == lease.first && leases.back().last <= lease.last) leases.back() = lease;
    else leases.push_back(lease);
  }
}

void LeasedRanges::check(std::string_view secret, JobId job, const std::vector<Lease>& leases,
                         std::string_view worker_key) {
  ranges_.clear();
  bad_ = 0;
  at_ = 0;
  for (const Lease& lease : leases) {
    // Every byte compared, whatever differs first: the time taken says
    // nothing about how much of a forged token was right.
    const auto expected = lease_token(secret.size() == lease_secret_bytes ? secret : std::string_view(zero_secret, 16),
                                      job, lease.first, lease.last, worker_key);
    unsigned char difference = secret.size() == lease_secret_bytes ? 0 : 1;
    for (std::size_t i = 0; i < lease_token_bytes; ++i)
      difference |= static_cast<unsigned char>(lease.token[i] ^ expected[i]);
    if (difference == 0) ranges_.emplace_back(lease.first, lease.last);
    else ++bad_;
  }
  if (std::is_sorted(ranges_.begin(), ranges_.end()) &&
      std::adjacent_find(ranges_.begin(), ranges_.end(), [](auto& a, auto& b) { return b.first <= a.second; }) ==
          ranges_.end())
    return;
  // Leases of one worker may overlap (a task dealt to it again): merge them.
  std::sort(ranges_.begin(), ranges_.end());
  std::size_t kept = 0;
  for (const auto& range : ranges_) {
    if (kept > 0 && range.first <= ranges_[kept - 1].second) ranges_[kept - 1].second = std::max(ranges_[kept - 1].second, range.second);
    else ranges_[kept++] = range;
  }
  ranges_.resize(kept);
}

bool LeasedRanges::covers(TaskId id) const {
  if (at_ < ranges_.size() && ranges_[at_].first <= id) {
    if (id <= ranges_[at_].second) return true;
    if (at_ + 1 < ranges_.size() && ranges_[at_ + 1].first <= id && id <= ranges_[at_ + 1].second) {
      ++at_;
      return true;
    }
  }
  // The ranges are disjoint: only the last one starting at or before id can hold it.
  const auto after = std::upper_bound(ranges_.begin(), ranges_.end(), std::pair{id, ~TaskId{0}});
  if (after == ranges_.begin()) return false;
  at_ = static_cast<std::size_t>(after - ranges_.begin()) - 1;
  return id <= ranges_[at_].second;
}

}  // namespace zpipe
