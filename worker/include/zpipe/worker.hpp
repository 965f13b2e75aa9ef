// The worker role as a library. A custom worker program registers its own
// task kinds and hands over to worker_main:
//
//   int main(int argc, char** argv) {
//     auto kinds = zpipe::builtin_kinds();
//     kinds.add("reverse", [](const zpipe::Value& payload) -> zpipe::Value {
//       auto text = zpipe::as_text(payload);
//       return std::string(text.rbegin(), text.rend());
//     });
//     return zpipe::worker_main(argc, argv, kinds);
//   }
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "zpipe/curve.hpp"
#include "zpipe/value.hpp"

namespace zpipe {

/// Computes one task's result from its payload. A function that throws
/// reports the task as failed, with the exception's message as the reason;
/// the worker carries on with the next task. Several threads may call the
/// same function at once (see --threads).
using TaskFunction = std::function<Value(const Value& payload)>;

/// A kind's shortcut for integer payloads and integer results, which the
/// worker takes for a frame whose payloads are all integers: no Value is
/// made per task. It stores the result and returns true, or returns false
/// to leave that task to the kind's TaskFunction (which then says what is
/// wrong: an overflow, say). It must give the result the TaskFunction
/// gives, and be quick: a worker of one compute thread runs bursts of
/// frames of such kinds on its network thread.
using IntegerFunction = bool (*)(std::int64_t payload, std::int64_t& result);

/// For a task function to poll while it runs long: true once the job of the
/// task this thread runs was cancelled or halted (--halt now; the
/// ventilator's job_end), or the worker was asked to stop. Its result would
/// be dropped, so the function may give up at once (the exec kind kills its
/// command's process group; sleep returns).
[[nodiscard]] bool task_cancelled();

class KindRegistry {
 public:
  /// Adds a kind, replacing one of the same name; `integer`, when given,
  /// is its shortcut for integer payloads.
  void add(std::string name, TaskFunction function, IntegerFunction integer = nullptr);
  /// Returns the kind's function, or nullptr when there is none of that name.
  [[nodiscard]] const TaskFunction* find(std::string_view name) const;
  /// Returns the kind's shortcut for integer payloads, or nullptr when it has none.
  [[nodiscard]] IntegerFunction find_integer(std::string_view name) const;
  /// Returns the names, sorted, for messages that list what is available.
  [[nodiscard]] std::string names() const;
  /// Returns the names, sorted: what a worker announces in hello.
  [[nodiscard]] std::vector<std::string> list() const;

 private:
  struct Kind {
    TaskFunction function;
    IntegerFunction integer = nullptr;
  };
  std::map<std::string, Kind, std::less<>> kinds_;
};

/// square, sleep, spin, primes and fail (see README, "Task kinds").
[[nodiscard]] KindRegistry builtin_kinds();

struct WorkerConfig {
  std::string ventilator = "tcp://127.0.0.1:5557";
  std::string sink = "tcp://127.0.0.1:5558";
  std::string name;  // empty: HOST:PID
  unsigned threads = 1;
  bool once = false;  // exit when the first job ends, instead of serving the next
  /// Task frames the ventilator may send in one message (PROTOCOL.md
  /// §6.2.10); 1: one per message.
  std::uint32_t bundle = 64;
  bool allow_exec = false;  // run "exec" tasks: shell command lines
  std::chrono::milliseconds exec_timeout{60'000};
  std::uint32_t max_output = 1024 * 1024;  // bytes of stdout, and of stderr, kept per exec task
  bool keep_truncated = false;             // --on-truncate keep
  CurveConfig curve;  // a client of both servers
  std::string ventilator_key;
  std::string sink_key;
  std::string metrics_file;  // empty: none (see metrics_file.hpp)
};

/// Parses the worker's command line. Throws usage_error; prints --help (with
/// `kinds` listed, when given) or --version and exits 0 itself.
[[nodiscard]] WorkerConfig parse_worker_options(int argc, const char* const* argv, std::string_view program = "worker",
                                                const KindRegistry* kinds = nullptr);

/// Serves jobs until the first job ends (once) or a stop signal. Returns an
/// exit code.
int run_worker(const WorkerConfig& config, const KindRegistry& kinds);

/// The whole main() of a worker program: parses options, runs, and maps
/// errors to exit codes (2 usage, 3 runtime).
int worker_main(int argc, const char* const* argv, const KindRegistry& kinds, std::string_view program = "worker");

}  // namespace zpipe
