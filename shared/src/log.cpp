// stderr logging shared by the three programs.
#include "zpipe/log.hpp"

#include <unistd.h>

namespace zpipe {
namespace {
std::string& role() {
  static std::string name = "zpipe";
  return name;
}
}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string shown(text.substr(0, max_bytes));
  for (char& c : shown)
    if (c < 0x20 || c > 0x7e) c = '?';
  if (text.size() > max_bytes) shown += "...";
  return shown;
}

void set_log_role(std::string_view name) { role() = std::string(name); }

void log_line(std::string_view message) {
  std::string line;
  line.reserve(role().size() + message.size() + 3);
  line.append(role()).append(": ").append(message).push_back('\n');
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t written = ::write(STDERR_FILENO, rest.data(), rest.size());
    if (written <= 0) return;  // stderr is gone; nothing better to do with a log line
    rest.remove_prefix(static_cast<std::size_t>(written));
  }
}

RejectionLog::RejectionLog(std::string what, std::uint64_t logged_in_full, std::string verb)
    : what_(std::move(what)), verb_(std::move(verb)), logged_in_full_(logged_in_full) {}

void RejectionLog::reject(std::string_view reason) {
  ++count_;
  const auto now = std::chrono::steady_clock::now();
  if (count_ > logged_in_full_ && now - last_line_ < std::chrono::seconds(1)) {
    ++not_shown_;
    return;
  }
  std::string line = verb_ + " " + what_ + ": " + std::string(reason);
  if (not_shown_ > 0) line += " (" + std::to_string(not_shown_) + " more not shown)";
  line += " [" + std::to_string(count_) + " " + verb_ + " so far]";
  log_line(line);
  not_shown_ = 0;
  last_line_ = now;
}

}  // namespace zpipe
