// The sink role: collects a job's results, prints each task once, and says
// how the job went.
#pragma once

#include <string>

#include "zpipe/curve.hpp"

namespace zpipe {

enum class OutputFormat { text, jsonl, csv };
enum class ProgressMode { automatic, always, never };

struct SinkConfig {
  std::string bind = "tcp://127.0.0.1:5558";  // workers and the ventilator connect here
  OutputFormat format = OutputFormat::text;
  std::string output;                          // empty: stdout
  ProgressMode progress = ProgressMode::automatic;
  std::string journal;                         // empty: no journal
  CurveConfig curve;
};

/// Parses the command line. Throws usage_error; prints --help and exits 0.
[[nodiscard]] SinkConfig parse_sink_options(int argc, const char* const* argv);

/// Collects one job. Returns 0 when every task succeeded, 1 when any failed.
int run_sink(const SinkConfig& config);

}  // namespace zpipe
