// Where a job's tasks come from: a count (task i carries the integer i) or
// lines of a file or stdin (the line is the payload). Both stream, so memory
// stays flat whatever the job's size; a pipe that has nothing to say yet
// never blocks the ventilator's loop.
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
  virtual std::optional<SourceTask> next() = 0;
  [[nodiscard]] virtual bool exhausted() const = 0;
  /// The descriptor to poll for more input, or -1 when next() never waits.
  [[nodiscard]] virtual int input_fd() const { return -1; }
  /// The job's size when known before reading (a count).
  [[nodiscard]] virtual std::optional<std::uint64_t> known_total() const { return std::nullopt; }
  /// The job's fingerprint (see fingerprint.hpp) once it is known.
  [[nodiscard]] virtual std::optional<std::string> fingerprint() const { return std::nullopt; }
};

/// Tasks 1..count with payloads 1..count.
[[nodiscard]] std::unique_ptr<TaskSource> count_source(std::uint64_t count);

/// One task per line of `path` ("-" for stdin). Throws std::runtime_error if
/// the file cannot be opened. Lines longer than `max_line_bytes` fail.
[[nodiscard]] std::unique_ptr<TaskSource> line_source(const std::string& path, std::size_t max_line_bytes);

}  // namespace zpipe
