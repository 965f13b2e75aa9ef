// Log lines on stderr, prefixed with the program's role, and a counter for
// rejected input that logs without letting a flood of garbage flood stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace zpipe {

/// Sets the prefix of every log line ("sink", "worker", ...).
void set_log_role(std::string_view role);

/// Writes "role: message" and a newline to stderr in one write, so lines of
/// several threads or processes sharing a terminal do not interleave.
void log_line(std::string_view message);

/// `text` cut to `max_bytes`, with anything but printable ASCII shown as
/// '?': safe to put a name a peer chose into a log line or a summary.
[[nodiscard]] std::string printable(std::string_view text, std::size_t max_bytes);

/// Counts rejected frames or inputs and logs them: the first few in full,
/// then at most one line a second that says how many were not shown.
class RejectionLog {
 public:
  /// Lines read "VERB WHAT: reason".
  explicit RejectionLog(std::string what, std::uint64_t logged_in_full = 10, std::string verb = "rejected");

  void reject(std::string_view reason);
  [[nodiscard]] std::uint64_t count() const { return count_; }

 private:
  std::string what_;
  std::string verb_;
  std::uint64_t logged_in_full_;
  std::uint64_t count_ = 0;
  std::uint64_t not_shown_ = 0;
  std::chrono::steady_clock::time_point last_line_{};
};

}  // namespace zpipe
