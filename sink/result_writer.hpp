// Formats completed tasks as text, JSON lines or CSV into a buffer, and
// writes the buffer out in large pieces: the sink's hot path.
#pragma once

#include <string>
#include <string_view>

#include "sink.hpp"
#include "zpipe/messages.hpp"

namespace zpipe {

class ResultWriter {
 public:
  /// Writes to `path`, or to stdout when it is empty. Throws
  /// std::runtime_error when the file cannot be created.
  ResultWriter(OutputFormat format, const std::string& path);
  ~ResultWriter();
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  void write(const Result& result, std::string_view worker);
  /// Writes out what is buffered. Throws std::runtime_error on a write error.
  void flush();

 private:
  void write_text(const Result& result, std::string_view worker);
  void write_jsonl(const Result& result, std::string_view worker);
  void write_csv(const Result& result, std::string_view worker);

  OutputFormat format_;
  int fd_;
  bool owned_;
  std::string buffer_;
};

}  // namespace zpipe
