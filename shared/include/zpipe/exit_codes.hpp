// What each program's exit status means, and the error that maps to "usage".
#pragma once

#include <stdexcept>

namespace zpipe {

enum ExitCode : int {
  exit_ok = 0,            // job complete, every task succeeded
  exit_tasks_failed = 1,  // job complete, at least one task failed (sink)
  exit_usage = 2,         // bad command line or input the user must fix
  exit_runtime = 3,       // could not run: endpoint in use, file unreadable, peer refused
  exit_cancelled = 4,     // the ventilator cancelled the job (sink, workers with --once)
  exit_halted = 5,        // --halt ended the job before every task ran (sink, ventilator)
  exit_interrupted = 130  // stopped by SIGINT or SIGTERM before the job completed
};

/// A bad option or argument; main() prints it on one line and exits 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace zpipe
