// Signal handlers that only set a flag; see stop_signal.hpp.
#include "zpipe/stop_signal.hpp"

#include <csignal>

namespace zpipe {
namespace {
volatile std::sig_atomic_t received = 0;
volatile std::sig_atomic_t count = 0;
extern "C" void record_signal(int signal) {
  received = signal;
  count = count + 1;
}
}  // namespace

void install_stop_signals() {
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocking poll returns with EINTR at once
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

int stop_signal() { return received; }

int stop_signals_received() { return count; }

}  // namespace zpipe
