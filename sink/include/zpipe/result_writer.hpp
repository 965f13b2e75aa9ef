// Formats completed tasks as text, JSON lines or CSV into a buffer that the
// caller writes out in large pieces: the sink's hot path, free of I/O.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "zpipe/decimal_digits.hpp"
#include "zpipe/messages.hpp"
#include "zpipe/sink.hpp"

namespace zpipe {

class ResultWriter {
 public:
  /// Starts with the format's header, if it has one (csv). With `tag`, each
  /// text line starts with the task's input, escaped as streams are, and a
  /// tab: an exec task's command line (empty for other kinds, whose results
  /// do not carry their input).
  explicit ResultWriter(OutputFormat format, bool tag = false);

  /// Appends one result's line to the buffer.
  void write(const Result& result, std::string_view worker);
  /// The formatted lines not yet taken; the caller clears it once written.
  [[nodiscard]] std::string& buffer() {
    flush_staged();
    return buffer_;
  }
  /// The bytes of the lines not yet taken.
  [[nodiscard]] std::size_t pending_bytes() const { return buffer_.size() + staged_length_; }

 private:
  void write_text(const Result& result, std::string_view worker);
  void write_jsonl(const Result& result, std::string_view worker);
  void write_exec_jsonl(const Result& result, const ExecRecord& record, std::string_view worker);
  void write_csv(const Result& result, std::string_view worker);
  void write_msgpack(const Result& result, std::string_view worker);
  void stage_number_line(const Result& result, std::int64_t number);
  void flush_staged();
  // Writes the id at `out` (storing up to decimal_room bytes) and returns
  // the end. Ids mostly come one after another: an id of up to 8 digits is
  // kept as its digits in one word (the first in the lowest byte), counted
  // up there and stored whole. (Counted up byte by byte in memory, then
  // copied, the copy waited on the byte stores: a seventh of the sink.)
  char* write_id(char* out, std::uint64_t id);

  OutputFormat format_;
  bool tag_ = false;
  std::string buffer_;
  std::uint64_t last_id_ = 0;
  std::uint64_t last_id_text_ = 0;   // last_id_'s digits, when it has at most 8
  std::size_t last_id_length_ = 0;   // its digits; 0 until an id was written
  // "task ID: NUMBER" lines, formatted in place and appended to buffer_ a
  // staging area at a time (buffer() appends what is here first). The
  // longest: "task ", the id's 20 digits, " FAILED: ", then the value and
  // "\n" in the room write_decimal stores in (which the id's store fits too).
  static constexpr std::size_t longest_number_line = 5 + 20 + 9 + decimal_room;
  std::array<char, 16 * 1024> staged_{};
  std::size_t staged_length_ = 0;
};

}  // namespace zpipe
