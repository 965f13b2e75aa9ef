// See progress.hpp.
#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace zpipe {

void ProgressLine::update(std::uint64_t done, std::optional<std::uint64_t> total, double elapsed_seconds) {
  const auto now = std::chrono::steady_clock::now();
  if (!enabled_ || now < next_draw_) return;
  next_draw_ = now + std::chrono::milliseconds(250);
  const double rate = elapsed_seconds > 0 ? static_cast<double>(done) / elapsed_seconds : 0;
  char line[160];
  int length = 0;
  if (total && *total > 0) {
    const double left = rate > 0 ? static_cast<double>(*total - done) / rate : 0;
    length = std::snprintf(line, sizeof line, "\r\033[K%llu/%llu tasks (%.1f%%), %.0f tasks/s, %.0f s left",
                           static_cast<unsigned long long>(done), static_cast<unsigned long long>(*total),
                           100.0 * static_cast<double>(done) / static_cast<double>(*total), rate, left);
  } else {
    length = std::snprintf(line, sizeof line, "\r\033[K%llu tasks, %.0f tasks/s", static_cast<unsigned long long>(done), rate);
  }
  if (length > 0 && ::write(STDERR_FILENO, line, static_cast<std::size_t>(length)) > 0) drawn_ = true;
}

void ProgressLine::clear() {
  if (drawn_ && ::write(STDERR_FILENO, "\r\033[K", 4) > 0) drawn_ = false;
}

}  // namespace zpipe
