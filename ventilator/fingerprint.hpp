// A fingerprint of a job's input, so that a resumed job is refused when its
// input changed rather than mixing the results of two different inputs.
//
// The format, exactly (for the protocol spec):
//
//   fnv1a64:<16 lowercase hex digits>:<decimal count of bytes hashed>
//
// where the hash is 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime
// 0x100000001b3; for each byte: hash ^= byte, hash *= prime, modulo 2^64)
// over, in order:
//   - the task kind's UTF-8 bytes,
//   - one 0x00 byte,
//   - for a count job: ASCII "count:" and the count in decimal (no sign, no
//     leading zeros), or
//     for an input job: ASCII "input:" and every byte of the input as read
//     (line endings, a missing final newline and over-long lines included).
// The byte count covers all of it, kind and prefix included. Example:
// kind "square", count 3 hashes "square\0count:3" and gives
// "fnv1a64:9f28e71a99b2fede:14".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace zpipe {

/// 64-bit FNV-1a, fed a piece at a time so that input of any size can be
/// hashed as it streams past.
class Fnv1a64 {
 public:
  void add(std::string_view bytes) noexcept {
    for (const char c : bytes) {
      hash_ ^= static_cast<unsigned char>(c);
      hash_ *= 0x100000001b3ULL;
    }
    size_ += bytes.size();
  }
  [[nodiscard]] std::uint64_t value() const noexcept { return hash_; }
  /// Bytes added so far.
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  /// Returns "fnv1a64:<16 hex>:<size>".
  [[nodiscard]] std::string text() const;

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::uint64_t size_ = 0;
};

/// Returns the fingerprint of a job of tasks 1..count of `kind`.
[[nodiscard]] std::string job_fingerprint(std::string_view kind, std::uint64_t count);

/// Returns a hasher that already holds an input job's prefix ("<kind>\0input:").
/// add() every byte of the input as it is read; text() is then the fingerprint.
[[nodiscard]] Fnv1a64 input_job_hasher(std::string_view kind);

}  // namespace zpipe
