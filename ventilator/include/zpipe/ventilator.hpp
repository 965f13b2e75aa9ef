// The ventilator role: reads a job's tasks, tells the sink what the job is,
// and deals task frames to workers as their credits allow.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "zpipe/curve.hpp"
#include "zpipe/messages.hpp"
#include "zpipe/task_source.hpp"

namespace zpipe {

struct VentilatorConfig {
  std::string bind = "tcp://127.0.0.1:5557";  // workers connect here
  std::string sink = "tcp://127.0.0.1:5558";
  std::optional<std::uint64_t> count;         // --count N, or
  std::string input;                          // --input FILE ("-": stdin)
  std::string kind = "square";
  std::string command;                        // --command TEMPLATE: each line fills it (kind exec)
  std::uint32_t batch = 1;                    // tasks per frame
  std::uint32_t min_workers = 1;
  std::uint64_t max_in_flight = 262144;       // tasks read but not acknowledged
  std::optional<std::uint64_t> job_id;        // default: random
  std::chrono::milliseconds worker_timeout{3000};  // silent this long: gone, its tasks dealt again
  std::uint32_t max_attempts = 3;             // a task lost with this many workers fails
  std::uint32_t retries = 0;                  // a failed task is run again this many times (--retries)
  std::chrono::milliseconds task_timeout{0};  // held longer by a live worker: dealt again (0: never)
  // Tasks one worker may hold at once, those done but not yet acknowledged
  // included; nullopt: --max-in-flight.
  std::optional<std::uint64_t> max_held_per_worker;
  bool resume = false;                        // continue the sink's job of the same input
  bool resume_failed = false;                 // --resume-failed: and run again the tasks that failed
  HaltPolicy halt;                            // --halt: when the sink ends the job early
  std::chrono::seconds kind_timeout{60};      // workers connected, none runs the kind: cancel (exit 3); 0: never
  CurveConfig curve;                          // server to workers, client of the sink
  std::string sink_key;                       // the sink's public key, with curve
  std::string metrics_file;                   // empty: none (see metrics_file.hpp)
  /// For a program that runs the ventilator in-process: when set, told the
  /// endpoint workers connect to (the port that "tcp://127.0.0.1:*" picked),
  /// on run_ventilator's thread, before the job starts. An exception from it
  /// ends run_ventilator with it.
  std::function<void(const std::string& endpoint)> on_bound;
  /// For a program that supplies the tasks itself (the Python binding):
  /// when set, called once, on the thread that calls run_ventilator, for the
  /// job's tasks instead of `count` or `input`. With `resume`, the source's
  /// fingerprint must be known before the first task is dealt.
  std::function<std::unique_ptr<TaskSource>()> make_source;
  /// When set, replaces the count of SIGINT/SIGTERM received (stop_signal.hpp)
  /// for this ventilator alone: each increase stops it as a signal would
  /// (the first cancels the job). Called on run_ventilator's thread.
  std::function<int()> stop_requests;
};

/// Parses the command line. Throws usage_error; prints --help and exits 0.
[[nodiscard]] VentilatorConfig parse_ventilator_options(int argc, const char* const* argv);

/// Runs one job to completion. Returns an exit code.
int run_ventilator(const VentilatorConfig& config);

}  // namespace zpipe
