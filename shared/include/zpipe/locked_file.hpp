// A file that one process at a time may write: the sink's --output and
// --journal. Two sinks given the same file would interleave or truncate each
// other's bytes; the lock turns that into an error naming the other process.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

namespace zpipe {

class LockedFile {
 public:
  /// Opens `path` read-write, creating it with `mode` when it does not exist
  /// (never truncating it), and takes an exclusive POSIX record lock on the
  /// whole file. A file it created has its directory fsynced, so the new name
  /// survives a power loss. `what` names the file in errors ("--journal").
  /// Something other than a regular file (/dev/null, a FIFO) is opened but
  /// not locked, as two writers cannot spoil it.
  /// Throws std::runtime_error when the file cannot be opened, when another
  /// process holds the lock (naming its pid), or when this process already
  /// holds it open as a LockedFile (POSIX locks cannot tell that apart).
  static LockedFile open(const std::string& path, std::string_view what, mode_t mode = 0644);

  ~LockedFile();
  LockedFile(LockedFile&& other) noexcept;
  LockedFile& operator=(LockedFile&& other) noexcept;
  LockedFile(const LockedFile&) = delete;
  LockedFile& operator=(const LockedFile&) = delete;

  [[nodiscard]] int fd() const { return fd_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  /// True when open() created the file.
  [[nodiscard]] bool created() const { return created_; }
  /// True for a regular file, the only kind that is locked or truncated.
  [[nodiscard]] bool regular() const { return regular_; }

  /// Empties a regular file and moves its offset to 0 (does nothing to
  /// another kind). Throws std::runtime_error.
  void truncate();

 private:
  LockedFile(int fd, std::string path, std::string_view what);
  void lock();
  void release() noexcept;

  int fd_ = -1;
  std::string path_;
  std::string what_;
  bool created_ = false;
  bool regular_ = false;
  bool registered_ = false;  // in this process's table of locked files
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

/// Fsyncs the directory that holds `file_path`, making a file created or
/// renamed there durable. Throws std::runtime_error.
void sync_directory(const std::string& file_path, std::string_view what);

}  // namespace zpipe
