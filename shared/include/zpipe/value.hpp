// The payload of a task and the value of a result: nil, a signed integer or a
// string of bytes. Kept this small on purpose so that every language's msgpack
// library maps it without custom types (see shared/PROTOCOL.md, "Values").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace zpipe {

/// What a shell command did (task kind exec): everything it said, however it
/// ended. stdout and stderr are bytes (msgpack bin on the wire), kept up to
/// the worker's --max-output each. PROTOCOL.md §4.1 is its wire form.
struct ExecRecord {
  std::int64_t exit_code = -1;            // its exit status; -1 (nil on the wire) when it did not exit
  std::int64_t signal = 0;                // the signal that ended it; 0 (nil on the wire) when none did
  std::string out;                        // stdout, bytes
  std::string err;                        // stderr, bytes
  bool out_truncated = false;             // stdout was longer than kept
  bool err_truncated = false;
  std::int64_t started_us = 0;            // start, microseconds since the Unix epoch
  std::int64_t duration_us = 0;           // from start until its shell exited
  std::string host;                       // where it ran
  std::string error;                      // why it failed; empty when it succeeded
  std::string command;                    // the command line it ran (the task's payload), so
                                          // the sink maps each result to its input keeping nothing
  bool operator==(const ExecRecord&) const = default;
};

/// An exec record behind a pointer, so that every other Value (a task's
/// payload in the ventilator's in-flight table) stays as small as before.
struct ExecValue {
  std::shared_ptr<const ExecRecord> record;
  explicit ExecValue(ExecRecord r) : record(std::make_shared<const ExecRecord>(std::move(r))) {}
  const ExecRecord& operator*() const { return *record; }
  const ExecRecord* operator->() const { return record.get(); }
  bool operator==(const ExecValue& other) const { return *record == *other.record; }
};

using Value = std::variant<std::monostate, std::int64_t, std::string, ExecValue>;

/// Returns the integer a value holds, or the integer its text spells (as a
/// task line like "42" does); nullopt when it is neither.
[[nodiscard]] std::optional<std::int64_t> as_integer(const Value& value);

/// Returns the text of a value: strings as they are, integers in decimal, nil
/// as the empty string, an exec record as its stdout.
[[nodiscard]] std::string as_text(const Value& value);

}  // namespace zpipe
