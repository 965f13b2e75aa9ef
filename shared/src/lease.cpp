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
                 std::vector<Lease>& leases) {
  for (std::size_t at = 0; at < tasks.size();) {
    std::size_t end = at + 1;
    while (end < tasks.size() && tasks[end].id == tasks[end - 1].id + 1) ++end;
    const TaskId first = tasks[at].id, last = tasks[end - 1].id;
    leases.push_back(Lease{first, last, lease_token(secret, job, first, last, worker_key)});
    at = end;
  }
}

LeasedRanges::LeasedRanges(std::string_view secret, JobId job, const std::vector<Lease>& leases,
                           std::string_view worker_key) {
  ranges_.reserve(leases.size());
  for (const Lease& lease : leases) {
    const bool right = secret.size() == lease_secret_bytes &&
                       sodium_memcmp(lease.token.data(),
                                     lease_token(secret, job, lease.first, lease.last, worker_key).data(),
                                     lease_token_bytes) == 0;
    if (right) ranges_.emplace_back(lease.first, lease.last);
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
  // The ranges are disjoint: only the last one starting at or before id can hold it.
  const auto after = std::upper_bound(ranges_.begin(), ranges_.end(), std::pair{id, ~TaskId{0}});
  if (after == ranges_.begin()) return false;
  return id <= std::prev(after)->second;
}

}  // namespace zpipe
