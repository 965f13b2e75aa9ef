// The sink's journal (--journal FILE): the job's manifest and every result
// the sink recorded, appended and made durable (fdatasync) in batches. A sink
// restarted with the same journal takes up the job where the last one
// stopped; acknowledgements go to the ventilator only for synced results, so
// nothing acknowledged can be lost in a crash.
//
// Format: a sequence of records, each a 4-byte little-endian length and a
// protocol frame (shared/PROTOCOL.md): first a job manifest, then results
// frames, with the manifest again whenever it changed. A torn last record
// (a crash mid-write) is cut off when the journal is opened.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "zpipe/messages.hpp"

namespace zpipe {

class Journal {
 public:
  /// Opens or creates the journal. For each record already in it, calls
  /// `replay` with the decoded message. Throws std::runtime_error when the
  /// file cannot be opened or holds something other than a journal.
  Journal(const std::string& path, const std::function<void(const Message&)>& replay);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  void append(const JobManifest& manifest);
  void append(const ResultBatch& results);
  /// Appends a results frame as it came off the wire.
  void append_encoded(std::string_view results_frame);

  /// True when unsynced records are older than the sync interval.
  [[nodiscard]] bool sync_due() const;
  /// Writes and syncs what is pending. Throws std::runtime_error.
  void sync();

 private:
  void replay_records(const std::function<void(const Message&)>& replay);
  void append_frame(std::string_view frame);

  std::string path_;
  int fd_ = -1;
  std::string pending_;
  std::string frame_;
  std::chrono::steady_clock::time_point oldest_pending_{};
};

}  // namespace zpipe
