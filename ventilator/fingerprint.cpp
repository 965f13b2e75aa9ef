// See fingerprint.hpp. FNV-1a is no defence against a forger, only against
// an input that changed by accident, which is what resume needs.
#include "fingerprint.hpp"

#include <cstdio>

namespace zpipe {
namespace {

Fnv1a64 job_hasher(std::string_view kind) {
  Fnv1a64 hash;
  hash.add(kind);
  hash.add(std::string_view("\0", 1));
  return hash;
}

}  // namespace

std::string Fnv1a64::text() const {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_));
  return "fnv1a64:" + std::string(hex) + ":" + std::to_string(size_);
}

std::string job_fingerprint(std::string_view kind, std::uint64_t count) {
  Fnv1a64 hash = job_hasher(kind);
  hash.add("count:" + std::to_string(count));
  return hash.text();
}

Fnv1a64 input_job_hasher(std::string_view kind) {
  Fnv1a64 hash = job_hasher(kind);
  hash.add("input:");
  return hash;
}

}  // namespace zpipe
