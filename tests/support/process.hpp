// Helpers for process-level tests: a child process that is always reaped, a
// scratch directory that is always removed, files, and bounded polling.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace zpipe::testing {

/// A running program. Its stdout and stderr go to files; the destructor
/// kills it (SIGKILL) and reaps it if it is still running, so no test leaves
/// a process behind, whatever fails.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, const std::filesystem::path& stdout_path,
               const std::filesystem::path& stderr_path, const std::filesystem::path& stdin_path = "/dev/null");
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess& operator=(ChildProcess&&) = delete;

  /// Waits at most `limit` for the exit. Returns the exit code (128+signal
  /// when killed), or nullopt when it is still running.
  std::optional<int> wait_for(std::chrono::milliseconds limit);
  void send_signal(int signal) const;
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

/// A fresh directory under /tmp, removed with everything in it (kept, and
/// its path printed, when ZPIPE_TEST_KEEP is set: to read a failed test's logs).
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

[[nodiscard]] std::string read_file(const std::filesystem::path& path);
[[nodiscard]] std::vector<std::string> read_lines(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& text);

/// Polls `condition` every 20 ms for at most `limit`. Returns its last value.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    ::usleep(20'000);
  }
  return true;
}

}  // namespace zpipe::testing
