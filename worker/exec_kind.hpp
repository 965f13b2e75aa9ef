// The "exec" task kind: the payload is a shell command line, run by the
// worker with a time limit; stdout is the result, and a failure reports the
// exit status with the end of stderr. It turns zpipe into a distributed xargs,
// and so runs only on a worker started with --allow-exec.
#pragma once

#include <chrono>
#include <cstddef>

#include "zpipe/worker.hpp"

namespace zpipe {

struct ExecLimits {
  std::chrono::milliseconds timeout{60'000};
  std::size_t max_output_bytes = 64 * 1024;  // of stdout and of stderr each
};

/// Returns the exec kind's function.
[[nodiscard]] TaskFunction exec_kind(const ExecLimits& limits);

/// Returns a function that refuses every exec task with the reason.
[[nodiscard]] TaskFunction refused_exec_kind();

}  // namespace zpipe
