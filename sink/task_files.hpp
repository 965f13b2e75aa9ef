// The sink's per-task files, as GNU parallel writes them: --joblog FILE (one
// tab-separated line per task in parallel's columns) and --results DIR (one
// directory per task id holding stdout, stderr and exitval). Both are
// written as each result arrives, not held back for the journal, so a task
// dealt again after a sink crash may have two joblog lines (as parallel
// keeps one per attempt) and has its directory written again. With
// --retries every failed attempt has its joblog line, as with parallel, and
// the directory holds the final attempt only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "zpipe/locked_file.hpp"
#include "zpipe/messages.hpp"

namespace zpipe {

/// parallel's joblog header line, with its newline.
inline constexpr std::string_view joblog_header = "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// Appends one joblog line for `result`: Seq is the task id, Host the host
/// of an exec record (else the worker), Starttime Unix seconds and
/// JobRuntime seconds with three decimals, Send 0, Receive the bytes of
/// stdout, Exitval and Signal as parallel has them (exit status, 0 when a
/// signal ended it; the signal, else 0), Command the command line run. A
/// result of another kind has times 0, Exitval 0 or 1 and an empty Command.
/// Tabs and newlines in Host or Command are written as spaces, so each line
/// keeps its nine columns.
void append_joblog_line(std::string& out, const Result& result, std::string_view worker);

class TaskFiles {
 public:
  /// Opens the joblog (locked; emptied unless `keep` holds, as with a
  /// journal, and headed when empty) and creates the results directory;
  /// either may be empty for none. Throws std::runtime_error.
  TaskFiles(const std::string& joblog, const std::string& results_dir, bool keep);

  /// Writes what `result` says to the joblog and the results directory.
  /// Throws std::runtime_error when a file cannot be written.
  void write(const Result& result, std::string_view worker);
  /// Writes the joblog line of an attempt that failed and is run again
  /// (--retries); --results keeps the final attempt only.
  void write_attempt(const Result& result, std::string_view worker);

 private:
  void write_results_dir(const Result& result);

  std::optional<LockedFile> joblog_;
  std::string results_dir_;
  std::string line_;
};

}  // namespace zpipe
