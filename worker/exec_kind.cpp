// See exec_kind.hpp.
#include "exec_kind.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <algorithm>
#include <stdexcept>
#include <string>

extern char** environ;

namespace zpipe {
namespace {

// Reads what the pipe holds now into `into`, keeping at most `most` bytes
// and marking the rest as cut; returns false at end of file. At most 16
// reads a call, so a child that writes without end cannot hold the loop
// that watches the time limit.
bool drain(int fd, std::string& into, std::size_t most, bool& truncated) {
  char chunk[65536];
  for (int reads = 0; reads < 16; ++reads) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0) return errno == EINTR || errno == EAGAIN;
    if (got == 0) return false;
    const std::size_t keep = std::min(static_cast<std::size_t>(got), most - std::min(most, into.size()));
    into.append(chunk, keep);
    truncated |= keep < static_cast<std::size_t>(got);
  }
  return true;
}

class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot make a pipe: ") + std::strerror(errno));
    // Read without blocking: once the shell has exited, what is in the pipe
    // is taken and nothing more is waited for.
    ::fcntl(fds_[0], F_SETFL, ::fcntl(fds_[0], F_GETFL) | O_NONBLOCK);
  }
  ~Pipe() {
    close_write();
    if (fds_[0] >= 0) ::close(fds_[0]);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  void close_write() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

// A descriptor that becomes readable when the process exits (pidfd), so the
// wait needs no polling; -1 where the kernel has none.
class ExitWatch {
 public:
  explicit ExitWatch(pid_t pid) : fd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {}
  ~ExitWatch() {
    if (fd_ >= 0) ::close(fd_);
  }
  ExitWatch(const ExitWatch&) = delete;
  ExitWatch& operator=(const ExitWatch&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

std::string host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return {};
  return host;
}

std::int64_t unix_microseconds() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string signal_text(int signal) {
  const char* name = sigabbrev_np(signal);
  return std::to_string(signal) + (name != nullptr ? std::string(" (SIG") + name + ")" : "");
}

pid_t spawn_shell(const std::string& command, const Pipe& out, const Pipe& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write_end(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err.write_end(), STDERR_FILENO);
  // Its own process group, so a timeout kills what it started too; and the
  // default signal handling the worker itself does not have.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setpgroup(&attributes, 0);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (const int signal : {SIGPIPE, SIGINT, SIGTERM}) sigaddset(&defaults, signal);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF);
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = -1;
  const int error = posix_spawn(&pid, "/bin/sh", &actions, &attributes, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) throw std::runtime_error(std::string("cannot start /bin/sh: ") + std::strerror(error));
  return pid;
}

// Runs the command to the exit of its shell. The command is done then: a
// background child it left keeps running, and what it writes later is not
// waited for (as with GNU parallel). The time limit kills the whole process
// group. Everything is kept in the record, whatever the outcome.
ExecRecord run_command(const std::string& command, const ExecLimits& limits) {
  static const std::string host = host_name();
  ExecRecord record;
  record.host = host;
  record.command = command;
  Pipe out;
  Pipe err;
  record.started_us = unix_microseconds();
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = spawn_shell(command, out, err);
  out.close_write();
  err.close_write();
  const ExitWatch exit_watch(pid);

  const auto deadline = started + limits.timeout;
  bool out_open = true, err_open = true, timed_out = false, cancelled = false;
  int status = 0;
  bool exited = false;
  while (!exited) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    // The job ended unfinished (--halt now, a cancel) or the worker stops.
    if (task_cancelled()) {
      cancelled = true;
      break;
    }
    // Without a pidfd, look at the shell every 10 ms.
    const int wait_ms = static_cast<int>(std::min<std::int64_t>(left.count(), exit_watch.fd() >= 0 ? 100 : 10));
    pollfd fds[] = {{out_open ? out.read_end() : -1, POLLIN, 0},
                    {err_open ? err.read_end() : -1, POLLIN, 0},
                    {exit_watch.fd(), POLLIN, 0}};
    if (::poll(fds, 3, wait_ms) < 0 && errno != EINTR) break;
    if (out_open && fds[0].revents != 0) out_open = drain(out.read_end(), record.out, limits.max_output_bytes, record.out_truncated);
    if (err_open && fds[1].revents != 0) err_open = drain(err.read_end(), record.err, limits.max_output_bytes, record.err_truncated);
    exited = ::waitpid(pid, &status, WNOHANG) == pid;
  }
  if (timed_out || cancelled) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  } else if (!exited) {
    ::waitpid(pid, &status, 0);
  }
  record.duration_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
  // What the shell and its foreground children wrote is in the pipes now.
  if (out_open) drain(out.read_end(), record.out, limits.max_output_bytes, record.out_truncated);
  if (err_open) drain(err.read_end(), record.err, limits.max_output_bytes, record.err_truncated);
  if (WIFSIGNALED(status)) record.signal = WTERMSIG(status);
  else if (WIFEXITED(status)) record.exit_code = WEXITSTATUS(status);
  if (cancelled) {
    record.error = "cancelled (the job ended unfinished, or the worker was stopped); its process group was killed";
  } else if (timed_out) {
    record.error = "timed out after " + std::to_string(limits.timeout.count()) + " ms; its process group was killed";
  } else if (record.signal != 0) {
    record.error = "killed by signal " + signal_text(static_cast<int>(record.signal));
  } else if (record.exit_code != 0) {
    record.error = "exit status " + std::to_string(record.exit_code);
  } else if ((record.out_truncated || record.err_truncated) && !limits.keep_truncated) {
    record.error = std::string(record.out_truncated ? "stdout" : "stderr") + " longer than --max-output (" +
                   std::to_string(limits.max_output_bytes) + " bytes) and cut (--on-truncate fail)";
  }
  return record;
}

}  // namespace

TaskFunction exec_kind(const ExecLimits& limits) {
  return [limits](const Value& payload) -> Value { return ExecValue(run_command(as_text(payload), limits)); };
}

TaskFunction refused_exec_kind() {
  return [](const Value&) -> Value {
    throw std::runtime_error("exec tasks are refused: this worker was not started with --allow-exec");
  };
}

}  // namespace zpipe
