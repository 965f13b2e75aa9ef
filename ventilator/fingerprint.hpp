// A fingerprint of a job's input, so that a resumed job is refused when its
// input changed rather than mixing the results of two different inputs.
#pragma once

#include <string>

#include "ventilator.hpp"

namespace zpipe {

/// Returns "fnv1a64:<hex>:<bytes>" over the kind and the count or the input
/// file's bytes, or "" for stdin (which cannot be read twice). Throws
/// std::runtime_error when the input file cannot be read.
[[nodiscard]] std::string job_fingerprint(const VentilatorConfig& config);

}  // namespace zpipe
