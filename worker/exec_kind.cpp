// See exec_kind.hpp.
#include "exec_kind.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

extern char** environ;

namespace zpipe {
namespace {

// Reads what is there into `into`, keeping at most `most` bytes; returns
// false at end of file.
bool drain(int fd, std::string& into, std::size_t most, bool& truncated) {
  char chunk[4096];
  const ssize_t got = ::read(fd, chunk, sizeof chunk);
  if (got < 0) return errno == EINTR || errno == EAGAIN;
  if (got == 0) return false;
  const std::size_t keep = std::min(static_cast<std::size_t>(got), most - std::min(most, into.size()));
  into.append(chunk, keep);
  truncated |= keep < static_cast<std::size_t>(got);
  return true;
}

std::string tail(const std::string& text, std::size_t most) {
  return text.size() <= most ? text : "..." + text.substr(text.size() - most);
}

class Pipe {
 public:
  Pipe() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot make a pipe: ") + std::strerror(errno));
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

Value run_command(const std::string& command, const ExecLimits& limits) {
  Pipe out;
  Pipe err;
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
  out.close_write();
  err.close_write();

  const auto deadline = std::chrono::steady_clock::now() + limits.timeout;
  std::string stdout_text, stderr_text;
  bool truncated = false, stderr_truncated = false, out_open = true, err_open = true, timed_out = false;
  while (out_open || err_open) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[] = {{out_open ? out.read_end() : -1, POLLIN, 0}, {err_open ? err.read_end() : -1, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(left.count(), 100))) < 0 && errno != EINTR) break;
    if (out_open && fds[0].revents != 0) out_open = drain(out.read_end(), stdout_text, limits.max_output_bytes, truncated);
    if (err_open && fds[1].revents != 0)
      err_open = drain(err.read_end(), stderr_text, limits.max_output_bytes, stderr_truncated);
  }
  int status = 0;
  while (!timed_out && ::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) timed_out = true;
    else ::usleep(1000);
  }
  if (timed_out) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    throw std::runtime_error("timed out after " + std::to_string(limits.timeout.count()) +
                             " ms and was killed; stderr: " + tail(stderr_text, 1000));
  }
  if (WIFSIGNALED(status))
    throw std::runtime_error("killed by signal " + std::to_string(WTERMSIG(status)) + "; stderr: " + tail(stderr_text, 1000));
  if (WEXITSTATUS(status) != 0)
    throw std::runtime_error("exit status " + std::to_string(WEXITSTATUS(status)) + "; stderr: " + tail(stderr_text, 1000));
  if (truncated) stdout_text += "\n[output cut at " + std::to_string(limits.max_output_bytes) + " bytes]";
  return stdout_text;
}

}  // namespace

TaskFunction exec_kind(const ExecLimits& limits) {
  return [limits](const Value& payload) { return run_command(as_text(payload), limits); };
}

TaskFunction refused_exec_kind() {
  return [](const Value&) -> Value {
    throw std::runtime_error("exec tasks are refused: this worker was not started with --allow-exec");
  };
}

}  // namespace zpipe
