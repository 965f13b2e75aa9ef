// A child process (fork) that runs `hold` (which opens and locks a file) and
// keeps what it opened until the test lets it go, for tests of locks that
// only another process can contend for. Every wait is bounded.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>

namespace zpipe::testing {

class ForkedHolder {
 public:
  /// Forks; the child calls hold(wait): hold opens its file and calls wait(),
  /// which tells the parent the file is held and returns when the test lets
  /// go. Throws std::runtime_error when the child does not report within 10 s.
  template <class Hold>
  explicit ForkedHolder(Hold hold) {
    int ready[2];
    int release[2];
    if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(release, O_CLOEXEC) != 0)
      throw std::runtime_error("cannot make pipes");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("cannot fork");
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      int status = 1;
      try {
        hold([&] {
          const char held = 'y';
          if (::write(ready[1], &held, 1) != 1) ::_exit(1);
          // Until the parent closes its end (or exits), or 30 s at most.
          pollfd until{release[0], POLLIN, 0};
          ::poll(&until, 1, 30000);
        });
        status = 0;
      } catch (...) {
      }
      ::_exit(status);  // nothing of the test framework runs in the child
    }
    ::close(ready[1]);
    ::close(release[0]);
    release_fd_ = release[1];
    pollfd reported{ready[0], POLLIN, 0};
    char held = 'n';
    const bool ok = ::poll(&reported, 1, 10000) == 1 && ::read(ready[0], &held, 1) == 1 && held == 'y';
    ::close(ready[0]);
    if (!ok) {
      stop();
      throw std::runtime_error("the child process did not take its lock");
    }
  }
  ~ForkedHolder() { stop(); }
  ForkedHolder(const ForkedHolder&) = delete;
  ForkedHolder& operator=(const ForkedHolder&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }

  /// Lets the child go and reaps it; returns its exit status (0: it held its
  /// file and let go cleanly).
  int release() {
    if (release_fd_ >= 0) ::close(release_fd_);
    release_fd_ = -1;
    int status = 0;
    if (pid_ > 0 && ::waitpid(pid_, &status, 0) == pid_) pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  void stop() {
    if (release_fd_ >= 0) ::close(release_fd_);
    release_fd_ = -1;
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int release_fd_ = -1;
};

/// Runs `probe` in a child process and returns its exit status (bounded by
/// what the probe does; it must not block).
template <class Probe>
int in_child(Probe probe) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("cannot fork");
  if (pid == 0) {
    int status = 99;
    try {
      status = probe();
    } catch (...) {
    }
    ::_exit(status);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace zpipe::testing
