// The sink role: collects a job's results, prints each task once, and says
// how the job went.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "zpipe/curve.hpp"

namespace zpipe {

/// `msgpack` is for programs that take the output through on_output (the
/// Python binding): each result is one msgpack array [task_id, ok, value,
/// worker], records back to back, canonical as PROTOCOL.md §2; it is not
/// offered on the command line.
enum class OutputFormat { text, jsonl, csv, msgpack };
enum class ProgressMode { automatic, always, never };

struct SinkConfig {
  std::string bind = "tcp://127.0.0.1:5558";  // workers and the ventilator connect here
  OutputFormat format = OutputFormat::text;
  std::string output;                          // empty: stdout
  ProgressMode progress = ProgressMode::automatic;
  std::string journal;                         // empty: no journal
  std::string joblog;                          // empty: none; else GNU parallel's joblog (task_files.hpp)
  std::string results_dir;                     // empty: none; else DIR/<task id>/{stdout,stderr,exitval}
  bool tag = false;                            // text: each line starts with the task's input and a tab
  bool keep_order = false;                     // results in task id order (--keep-order)
  std::uint64_t reorder_buffer = 65536;        // with keep_order: the most results waiting for an earlier one
  std::string metrics_file;                    // empty: none (see metrics_file.hpp)
  CurveConfig curve;

  // For a program that runs the sink in-process (see
  // ventilator/examples/submit_job.cpp). Both are called on run_sink's
  // thread; an exception from either ends run_sink with it.

  /// When set, receives the result lines, whole lines (records) in `format`, instead
  /// of stdout or `output` (which is then ignored). Each task's line comes
  /// once. With a journal that holds the job, the results it holds come
  /// first, as `output` is written again from it: a program killed after
  /// the journal took a result, and before it handled it, gets it again
  /// when it resumes.
  std::function<void(std::string_view lines)> on_output;
  /// When set, told the endpoint the sink is bound to (the port that
  /// "tcp://127.0.0.1:*" picked) before any peer is served.
  std::function<void(const std::string& endpoint)> on_bound;
  /// When set, replaces the count of SIGINT/SIGTERM received (stop_signal.hpp)
  /// for this sink alone; each increase stops it as a signal would.
  std::function<int()> stop_requests;
};

/// Parses the command line. Throws usage_error; prints --help and exits 0.
[[nodiscard]] SinkConfig parse_sink_options(int argc, const char* const* argv);

/// Collects one job. Returns 0 when every task succeeded, 1 when any failed.
int run_sink(const SinkConfig& config);

}  // namespace zpipe
