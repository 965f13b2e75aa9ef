// See fingerprint.hpp. FNV-1a is no defence against a forger, only against
// an input that changed by accident, which is what resume needs.
#include "fingerprint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace zpipe {
namespace {

class Fnv1a64 {
 public:
  void add(std::string_view bytes) {
    for (const char c : bytes) {
      hash_ ^= static_cast<unsigned char>(c);
      hash_ *= 0x100000001b3ULL;
    }
    size_ += bytes.size();
  }
  [[nodiscard]] std::string text() const {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_));
    return "fnv1a64:" + std::string(hex) + ":" + std::to_string(size_);
  }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::uint64_t size_ = 0;
};

}  // namespace

std::string job_fingerprint(const VentilatorConfig& config) {
  if (config.input == "-") return "";
  Fnv1a64 hash;
  hash.add(config.kind);
  hash.add(std::string_view("\0", 1));
  if (config.count) {
    hash.add("count:" + std::to_string(*config.count));
    return hash.text();
  }
  hash.add("input:");
  const int fd = ::open(config.input.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open --input " + config.input + ": " + std::strerror(errno));
  std::vector<char> chunk(1 << 20);
  for (;;) {
    const ssize_t got = ::read(fd, chunk.data(), chunk.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      throw std::runtime_error("cannot read --input " + config.input + ": " + std::strerror(error));
    }
    if (got == 0) break;
    hash.add(std::string_view(chunk.data(), static_cast<std::size_t>(got)));
  }
  ::close(fd);
  return hash.text();
}

}  // namespace zpipe
