// See progress.hpp.
#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace zpipe {

std::string ProgressLine::text(std::uint64_t done, std::optional<std::uint64_t> total, std::uint64_t failed,
                               std::uint64_t retried, double elapsed_seconds) {
  const double rate = elapsed_seconds > 0 ? static_cast<double>(done) / elapsed_seconds : 0;
  const auto number = [](std::uint64_t n) { return static_cast<unsigned long long>(n); };
  char line[200];
  int length = 0;
  if (total && *total > 0) {
    const double left = rate > 0 ? static_cast<double>(*total - done) / rate : 0;
    length = std::snprintf(line, sizeof line, "%llu/%llu tasks (%.1f%%), %.0f tasks/s, %llu failed, %llu retried, %.0f s left",
                           number(done), number(*total), 100.0 * static_cast<double>(done) / static_cast<double>(*total),
                           rate, number(failed), number(retried), left);
  } else {
    length = std::snprintf(line, sizeof line, "%llu tasks, %.0f tasks/s, %llu failed, %llu retried", number(done), rate,
                           number(failed), number(retried));
  }
  return length > 0 ? std::string(line, std::min(static_cast<std::size_t>(length), sizeof line - 1)) : std::string();
}

void ProgressLine::update(std::uint64_t done, std::optional<std::uint64_t> total, std::uint64_t failed,
                          std::uint64_t retried, double elapsed_seconds) {
  const auto now = std::chrono::steady_clock::now();
  if (!enabled_ || now < next_draw_) return;
  next_draw_ = now + std::chrono::milliseconds(250);
  const std::string line = "\r\033[K" + text(done, total, failed, retried, elapsed_seconds);
  if (::write(STDERR_FILENO, line.data(), line.size()) > 0) drawn_ = true;
}

void ProgressLine::clear() {
  if (drawn_ && ::write(STDERR_FILENO, "\r\033[K", 4) > 0) drawn_ = false;
}

}  // namespace zpipe
