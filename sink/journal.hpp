// The sink's journal (--journal FILE): the job's manifest and every result
// the sink recorded, appended and made durable (fdatasync) in batches. A sink
// restarted with the same journal takes up the job where the last one
// stopped; acknowledgements go to the ventilator only for synced results, so
// nothing acknowledged can be lost in a crash.
//
// Format: a sequence of records, each a 4-byte little-endian length and a
// protocol frame (shared/PROTOCOL.md): first a job manifest, then results
// frames, with the manifest again whenever it changed, and a job_end once
// the job is over. A torn last record (a crash mid-write) is cut off when the
// journal is replayed.
//
// Appending only copies into memory; a writer thread writes and fdatasyncs
// when asked, so the sink's loop never waits on the disk. It learns what is
// durable from synced() and a descriptor it can poll.
//
// The writer bypasses the page cache (O_DIRECT) where the file system allows
// it: copying each record into the cache was most of what a journal cost.
// Direct writes cover whole 4 KiB blocks, so each one starts again at the
// block that holds the journal's end, with the same bytes it already had,
// and ends in zeros up to a block's end. A clean close cuts those zeros off;
// after a crash, replay does (as it cuts any zeros a crash left). The page
// cache's own writeback rewrites that partial block the same way. Where
// O_DIRECT is refused (some network file systems, older kernels' tmpfs),
// writes go through the page cache as before.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "aligned_buffer.hpp"
#include "zpipe/locked_file.hpp"
#include "zpipe/messages.hpp"

namespace zpipe {

class Journal {
 public:
  /// Bytes read at a time by replay(); a record longer than this is read
  /// whole, so replay holds at most max(this, the largest record).
  static constexpr std::size_t replay_chunk_bytes = 1 << 20;

  /// Opens or creates the journal and locks it against other processes
  /// (mode 0600; a new file's directory is fsynced). Throws
  /// std::runtime_error when it cannot be opened, is not a regular file, or
  /// is in use by another process (naming its pid).
  explicit Journal(const std::string& path);
  /// Writes and syncs what was appended, stops the writer thread, and cuts
  /// off the zeros that direct writes left after the last record. A failure
  /// is logged.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Calls `visit` with each complete record's decoded message, in order,
  /// reading the file in chunks (memory O(largest record), not O(file)). A
  /// torn tail (an incomplete last record, or zero bytes a crash left at the
  /// end) is cut off, synced and logged. Call once, before any append.
  /// Returns the number of records.
  /// Throws std::runtime_error "... is damaged at byte N (...); move it away
  /// to start afresh" for a complete record that does not decode or a first
  /// record that is not a job manifest, and for read or repair failures;
  /// std::logic_error when called twice or after an append.
  std::uint64_t replay(const std::function<void(const Message&)>& visit);

  /// Appends one record to the memory buffer; cheap (the sink's hot path).
  /// Returns its sequence number: 1 for this object's first append, 2, ...
  std::uint64_t append(std::string_view frame);
  /// Encodes the message, then appends it.
  std::uint64_t append(const Message& message);

  /// Asks the writer thread to write everything appended so far and
  /// fdatasync it. Never blocks on the disk; requests made while a sync is
  /// under way are served together by the next one (group commit).
  void request_sync();
  /// The highest sequence number written and fdatasynced. Thread-safe.
  [[nodiscard]] std::uint64_t synced() const { return synced_.load(std::memory_order_acquire); }
  /// The highest sequence number appended.
  [[nodiscard]] std::uint64_t appended() const { return appended_; }
  /// An eventfd that becomes readable when synced() advances (or the writer
  /// fails), for the caller's poll loop; call drain_wake() after it fires.
  [[nodiscard]] int wake_fd() const { return wake_fd_; }
  void drain_wake();
  /// Throws std::runtime_error naming the path and the error when the writer
  /// thread failed to write or sync; nothing is written after a failure.
  void check() const;

  /// The most bytes replay() held in its read buffer (for tests).
  [[nodiscard]] std::size_t replay_buffer_peak() const { return replay_buffer_peak_; }
  /// Whether writes bypass the page cache (O_DIRECT); false where the file
  /// system refused it. Thread-safe.
  [[nodiscard]] bool direct() const { return direct_.load(std::memory_order_acquire); }

  /// Writes cover whole blocks of this many bytes.
  static constexpr std::size_t block_bytes = AlignedBuffer::block_bytes;

 private:
  void write_loop();
  // Opens the descriptor for direct writes; false where they are refused.
  bool open_direct();
  // Starts pending_ with the bytes of the file's last partial block, which
  // the next direct write rewrites. Needs mutex_ held.
  void carry_partial_block();
  bool write_all(std::string_view bytes);
  bool write_direct(std::size_t carried);
  void cut_padding();
  void fail(std::string message);
  void signal_wake();
  // Whether the file holds only zero bytes from `offset` to `size`.
  [[nodiscard]] bool zeros_from(off_t offset, off_t size);
  void cut_at(off_t offset, off_t size, std::string_view why);

  std::string path_;
  LockedFile file_;
  int wake_fd_ = -1;
  std::string frame_;  // reused by append(const Message&)
  std::uint64_t appended_ = 0;
  bool replay_allowed_ = true;
  std::size_t replay_buffer_peak_ = 0;

  // Shared with the writer thread, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable wanted_;
  // Records appended, not yet taken to write, after pending_carried_ bytes
  // of the file's last partial block.
  AlignedBuffer pending_;
  std::size_t pending_carried_ = 0;
  std::uint64_t pending_last_ = 0;  // sequence number of the last one in pending_
  bool sync_requested_ = false;
  bool stopping_ = false;
  std::string error_;  // the writer's failure, when it failed

  std::atomic<std::uint64_t> synced_{0};
  std::atomic<bool> failed_{false};
  off_t end_ = 0;          // where the next record goes; the writer's once replay is done
  AlignedBuffer writing_;  // the writer's buffer, swapped with pending_
  int direct_fd_ = -1;     // the same file, opened for O_DIRECT writes
  std::atomic<bool> direct_{false};
  std::thread writer_;   // last: started once everything above exists
};

}  // namespace zpipe
