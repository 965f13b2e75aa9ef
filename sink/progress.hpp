// The live progress line on stderr: done/total, rate, failed and retried
// tasks, and time left.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace zpipe {

class ProgressLine {
 public:
  explicit ProgressLine(bool enabled) : enabled_(enabled) {}
  /// Redraws the line, at most a few times a second.
  void update(std::uint64_t done, std::optional<std::uint64_t> total, std::uint64_t failed, std::uint64_t retried,
              double elapsed_seconds);
  /// The line update() draws, without its leading "\r\033[K".
  [[nodiscard]] static std::string text(std::uint64_t done, std::optional<std::uint64_t> total, std::uint64_t failed,
                                        std::uint64_t retried, double elapsed_seconds);
  /// Clears the line so the summary starts on a clean one.
  void clear();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point next_draw_{};
};

}  // namespace zpipe
