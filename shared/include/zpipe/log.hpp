// Log lines on stderr, each with a timestamp, a level and the program's
// role, as text for people or JSON for log shippers; and a counter for
// rejected input that logs without letting a flood of garbage flood stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace zpipe {

enum class LogLevel { debug, info, warning, error };
enum class LogFormat {
  text,  // 2026-11-25T04:58:01.123Z info sink: collecting results at tcp://...
  json,  // {"time":"2026-11-25T04:58:01.123Z","level":"info","role":"sink","pid":42,"message":"..."}
};

/// Sets the role every log line names ("sink", "worker", ...).
void set_log_role(std::string_view role);
/// Sets how lines are written (text unless told).
void set_log_format(LogFormat format);
/// Lines below `level` are not written (info unless told).
void set_log_level(LogLevel level);

/// Writes one line at `level` to stderr in one write(), so lines of several
/// threads or processes sharing a terminal or a file do not interleave.
void log_at(LogLevel level, std::string_view message);
inline void log_debug(std::string_view message) { log_at(LogLevel::debug, message); }
inline void log_info(std::string_view message) { log_at(LogLevel::info, message); }
inline void log_warning(std::string_view message) { log_at(LogLevel::warning, message); }
inline void log_error(std::string_view message) { log_at(LogLevel::error, message); }
/// An info line: what every program logged before levels existed.
inline void log_line(std::string_view message) { log_info(message); }

/// `text` cut to `max_bytes`, with anything but printable ASCII shown as
/// '?': safe to put a name a peer chose into a log line or a summary.
[[nodiscard]] std::string printable(std::string_view text, std::size_t max_bytes);

/// Counts rejected frames or inputs and logs them as warnings: the first few
/// in full, then at most one line a second that says how many were not shown.
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
