// Where a job's tasks come from: a count (task i carries the integer i) or
// lines of a file or stdin (the line is the payload). Both stream, so memory
// stays flat whatever the job's size; a pipe that has nothing to say yet
// never blocks the ventilator's loop.
//
// The input is opened and read once, so a pipe (`--input <(cmd)`) is never
// drained by anyone but the source. The job's total and fingerprint
// (fingerprint.hpp) come from that same descriptor: a regular file is
// scanned once before the first task (so both are known up front), a pipe
// is hashed and counted as it is read (so both are known once exhausted).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "zpipe/value.hpp"

namespace zpipe {

/// One task read from the source. A line the protocol cannot carry (too
/// long) becomes a task that is reported failed with `error` as its reason.
struct SourceTask {
  Value payload;
  std::string error;
};

class TaskSource {
 public:
  virtual ~TaskSource() = default;
  /// Returns the next task, or nullopt when there is none now: either the
  /// source is exhausted, or input is not ready yet (then poll input_fd()).
  /// Throws std::runtime_error when the input cannot be read, or when a
  /// regular file changed between the scan that counted it and the read.
  virtual std::optional<SourceTask> next() = 0;
  [[nodiscard]] virtual bool exhausted() const = 0;
  /// The descriptor to poll for more input, or -1 when next() never waits.
  [[nodiscard]] virtual int input_fd() const { return -1; }
  /// The job's size: known from the start for a count or a regular file,
  /// once exhausted() for a pipe; nullopt until then.
  [[nodiscard]] virtual std::optional<std::uint64_t> known_total() const = 0;
  /// The job fingerprint (fingerprint.hpp), known when known_total() is.
  [[nodiscard]] virtual std::optional<std::string> fingerprint() const = 0;
};

/// Tasks 1..count of `kind`, with payloads 1..count.
[[nodiscard]] std::unique_ptr<TaskSource> count_source(std::string_view kind, std::uint64_t count);

struct LineSourceOptions {
  std::string kind;                         // hashed into the fingerprint
  std::size_t max_line_bytes = 0;           // a longer line is a failed task
  bool fingerprint_before_dealing = false;  // --resume: refuse a pipe
};

/// One task per line of `path` ("-" for stdin), opened once. Throws
/// std::runtime_error if it cannot be opened or scanned, and usage_error if
/// options.fingerprint_before_dealing and it is not a regular file.
[[nodiscard]] std::unique_ptr<TaskSource> line_source(const std::string& path, const LineSourceOptions& options);

}  // namespace zpipe
