// The "exec" task kind: the payload is a shell command line, run by the
// worker with a time limit on its process group; the result is an exec
// record (exit status or signal, stdout and stderr as bytes, start, duration,
// host), whatever the outcome. It turns zpipe into a distributed xargs, and
// so runs only on a worker started with --allow-exec.
#pragma once

#include <chrono>
#include <cstddef>

#include "zpipe/worker.hpp"

namespace zpipe {

struct ExecLimits {
  std::chrono::milliseconds timeout{60'000};
  std::size_t max_output_bytes = 1024 * 1024;  // of stdout and of stderr each (--max-output)
  bool keep_truncated = false;                 // --on-truncate keep: output cut is still a success
};

/// Returns the exec kind's function.
[[nodiscard]] TaskFunction exec_kind(const ExecLimits& limits);

/// Returns a function that refuses every exec task with the reason.
[[nodiscard]] TaskFunction refused_exec_kind();

}  // namespace zpipe
