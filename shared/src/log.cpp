// stderr logging shared by the three programs, through spdlog: it gives the
// timestamp, levels and formatting; a sink of ours keeps each line to one
// write() (bound_endpoint in the tests and scripts relies on whole lines).
#include "zpipe/log.hpp"

#include <unistd.h>

#include <memory>
#include <mutex>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/base_sink.h>

namespace zpipe {
namespace {

class StderrLines final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    spdlog::memory_buf_t line;
    formatter_->format(message, line);
    std::string_view rest(line.data(), line.size());
    while (!rest.empty()) {
      const ssize_t written = ::write(STDERR_FILENO, rest.data(), rest.size());
      if (written <= 0) return;  // stderr is gone; nothing better to do with a log line
      rest.remove_prefix(static_cast<std::size_t>(written));
    }
  }
  void flush_() override {}
};

void append_json_escaped(std::string_view text, spdlog::memory_buf_t& out) {
  static constexpr char hex[] = "0123456789abcdef";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      const char escaped[] = {'\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xf]};
      out.append(escaped, escaped + sizeof escaped);
    } else {
      out.push_back(c);
    }
  }
}

// %* in the JSON pattern: the message as the inside of a JSON string.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm&, spdlog::memory_buf_t& out) override {
    append_json_escaped(std::string_view(message.payload.data(), message.payload.size()), out);
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

struct Settings {
  std::mutex lock;
  std::string role = "zpipe";
  LogFormat format = LogFormat::text;
  std::shared_ptr<spdlog::logger> logger;
};

Settings& settings() {
  static Settings state;
  return state;
}

// A role is ours (a program's name), but still goes into a pattern and a
// JSON string: keep it to characters that mean nothing in either.
std::string safe_role(std::string_view role) {
  std::string safe;
  for (const char c : role) safe.push_back((c == '%' || c == '"' || c == '\\' || c < 0x20 || c > 0x7e) ? '?' : c);
  return safe;
}

// Called with the lock held, after every change of role or format.
void apply_pattern(Settings& state) {
  constexpr const char* rfc3339_utc = "%Y-%m-%dT%H:%M:%S.%eZ";
  const std::string role = safe_role(state.role);
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (state.format == LogFormat::json)
    formatter->add_flag<JsonMessage>('*').set_pattern(std::string("{\"time\":\"") + rfc3339_utc +
                                                      "\",\"level\":\"%l\",\"role\":\"" + role +
                                                      "\",\"pid\":%P,\"message\":\"%*\"}");
  else
    formatter->set_pattern(std::string(rfc3339_utc) + " %l " + role + ": %v");
  state.logger->set_formatter(std::move(formatter));
}

spdlog::logger& logger() {
  Settings& state = settings();
  std::lock_guard hold(state.lock);
  if (!state.logger) {
    state.logger = std::make_shared<spdlog::logger>("zpipe", std::make_shared<StderrLines>());
    state.logger->set_level(spdlog::level::info);
    apply_pattern(state);
  }
  return *state.logger;
}

spdlog::level::level_enum spdlog_level(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warning: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string shown(text.substr(0, max_bytes));
  for (char& c : shown)
    if (c < 0x20 || c > 0x7e) c = '?';
  if (text.size() > max_bytes) shown += "...";
  return shown;
}

void set_log_role(std::string_view name) {
  logger();  // made first, so the lock below is not taken twice
  Settings& state = settings();
  std::lock_guard hold(state.lock);
  state.role = std::string(name);
  apply_pattern(state);
}

void set_log_format(LogFormat format) {
  logger();
  Settings& state = settings();
  std::lock_guard hold(state.lock);
  state.format = format;
  apply_pattern(state);
}

void set_log_level(LogLevel level) { logger().set_level(spdlog_level(level)); }

void log_at(LogLevel level, std::string_view message) {
  logger().log(spdlog_level(level), spdlog::string_view_t(message.data(), message.size()));
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
  log_warning(line);
  not_shown_ = 0;
  last_line_ = now;
}

}  // namespace zpipe
