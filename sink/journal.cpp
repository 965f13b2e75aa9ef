// See journal.hpp.
#include "journal.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <variant>

#include "zpipe/codec.hpp"
#include "zpipe/log.hpp"

namespace zpipe {
namespace {

// Appends past this many unwritten bytes start a write without waiting for
// the caller to ask, so a caller that syncs rarely does not pile up memory.
constexpr std::size_t write_at_bytes = 8 * 1024 * 1024;
constexpr std::size_t header_bytes = 4;

std::uint32_t read_length(const char* header) {
  std::uint32_t length = 0;
  for (int i = 3; i >= 0; --i) length = length << 8 | static_cast<unsigned char>(header[i]);
  return length;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Journal::Journal(const std::string& path) : path_(path), file_(LockedFile::open(path, "--journal", 0600)) {
  if (!file_.regular())
    throw std::runtime_error("--journal " + path + " is not a regular file; give the path of a file to keep");
  struct stat status {};
  if (::fstat(file_.fd(), &status) != 0)
    throw std::runtime_error("cannot inspect --journal " + path + ": " + errno_text());
  end_ = status.st_size;
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("cannot create an eventfd for --journal " + path + ": " + errno_text());
  const bool direct = open_direct();
  try {
    if (direct) {
      const std::lock_guard lock(mutex_);
      carry_partial_block();
      // The writer then never allocates to carry a block over.
      writing_.reserve(block_bytes);
    }
    writer_ = std::thread([this] { write_loop(); });
  } catch (...) {
    // No destructor runs for a constructor that throws.
    ::close(wake_fd_);
    if (direct_fd_ >= 0) ::close(direct_fd_);
    throw;
  }
}

// The file again, through /proc, so that replay and repairs keep reading
// through the page cache with file_'s descriptor.
bool Journal::open_direct() {
  const std::string same_file = "/proc/self/fd/" + std::to_string(file_.fd());
  direct_fd_ = ::open(same_file.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  direct_.store(direct_fd_ >= 0, std::memory_order_release);
  return direct_fd_ >= 0;
}

void Journal::carry_partial_block() {
  pending_.clear();
  pending_carried_ = 0;
  const auto carried = static_cast<std::size_t>(end_ % static_cast<off_t>(block_bytes));
  if (!direct() || carried == 0) return;
  char bytes[block_bytes];
  for (std::size_t got = 0; got < carried;) {
    const ssize_t read = ::pread(file_.fd(), bytes + got, carried - got, end_ - static_cast<off_t>(carried - got));
    if (read < 0 && errno == EINTR) continue;
    if (read <= 0) {  // the page cache's way needs no carried bytes
      direct_.store(false, std::memory_order_release);
      return;
    }
    got += static_cast<std::size_t>(read);
  }
  pending_.append(bytes, carried);
  pending_carried_ = carried;
}

Journal::~Journal() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wanted_.notify_one();
  writer_.join();
  if (failed_.load()) log_line(error_);
  else cut_padding();
  ::close(wake_fd_);
  // Closing any descriptor of the file ends this process's lock on it (POSIX
  // record locks): the locked one goes first.
  { const LockedFile closing = std::move(file_); }
  if (direct_fd_ >= 0) ::close(direct_fd_);
}

// A closed journal ends at its last record, as if written through the page
// cache: the zeros after it are only there for the next direct write. Direct
// writes may have padded it before they fell back to the page cache.
void Journal::cut_padding() {
  struct stat status {};
  if (direct_fd_ < 0 || ::fstat(file_.fd(), &status) != 0 || status.st_size <= end_) return;
  if (::ftruncate(file_.fd(), end_) != 0 || ::fdatasync(file_.fd()) != 0)
    log_line("journal " + path_ + ": cannot cut the zeros after its last record (" + errno_text() +
             "); the next sink to open it will");
}

std::uint64_t Journal::replay(const std::function<void(const Message&)>& visit) {
  if (!replay_allowed_) throw std::logic_error("Journal::replay is called once, before any append");
  replay_allowed_ = false;
  const int fd = file_.fd();
  struct stat status {};
  if (::fstat(fd, &status) != 0) throw std::runtime_error("cannot inspect --journal " + path_ + ": " + errno_text());
  const off_t size = status.st_size;

  // `buffer` holds the file's bytes from `buffer_at`. ensure(n) makes it hold
  // the n bytes from `at`, reading a chunk or the record, whichever is more;
  // false when the file ends first.
  std::string buffer;
  off_t buffer_at = 0;
  off_t at = 0;
  const auto ensure = [&](std::size_t wanted) {
    if (size - at < static_cast<off_t>(wanted)) return false;
    const auto skip = static_cast<std::size_t>(at - buffer_at);
    if (buffer.size() - skip >= wanted) return true;
    buffer.erase(0, skip);
    buffer_at = at;
    const std::size_t have = buffer.size();
    const auto goal = static_cast<std::size_t>(std::min<off_t>(size - at, static_cast<off_t>(std::max(wanted, replay_chunk_bytes))));
    buffer.resize(goal);
    replay_buffer_peak_ = std::max(replay_buffer_peak_, buffer.capacity());
    for (std::size_t filled = have; filled < goal;) {
      const ssize_t got = ::pread(fd, buffer.data() + filled, goal - filled, buffer_at + static_cast<off_t>(filled));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw std::runtime_error("cannot read --journal " + path_ + ": " + errno_text());
      if (got == 0) {  // shorter than fstat said: someone else writes it
        buffer.resize(filled);
        throw std::runtime_error("--journal " + path_ + " shrank while it was read; is another program writing it?");
      }
      filled += static_cast<std::size_t>(got);
    }
    return true;
  };
  const auto damaged = [&](const std::string& what) {
    return std::runtime_error("--journal " + path_ + " is damaged at byte " + std::to_string(at) + " (" + what +
                              "); move it away to start afresh");
  };

  const DecodeLimits limits;
  std::uint64_t records = 0;
  while (at < size) {
    if (!ensure(header_bytes)) {
      cut_at(at, size, "a torn record header");
      break;
    }
    const std::uint32_t length = read_length(buffer.data() + (at - buffer_at));
    if (length == 0) {  // no frame is empty: zeros, as a crash can leave at the end
      if (!zeros_from(at, size)) throw damaged("a record of length 0");
      cut_at(at, size, "zero bytes a crash left");
      break;
    }
    if (length > limits.max_frame_bytes && size - at - static_cast<off_t>(header_bytes) >= static_cast<off_t>(length))
      throw damaged("a record of " + std::to_string(length) + " bytes, more than a frame may hold");
    if (!ensure(header_bytes + length)) {
      cut_at(at, size, "a torn record");
      break;
    }
    const std::string_view frame(buffer.data() + (at - buffer_at) + header_bytes, length);
    const off_t next = at + static_cast<off_t>(header_bytes + length);
    Message message;
    try {
      message = decode(frame, limits);
    } catch (const codec_error& e) {
      // A crash can leave a record's last page unwritten, read as zeros.
      if (frame.back() == '\0' && zeros_from(next, size)) {
        cut_at(at, size, "a record whose end a crash left as zeros");
        break;
      }
      throw damaged(e.what());
    }
    if (records == 0 && !std::holds_alternative<JobManifest>(message))
      throw damaged("the first record is a " + std::string(message_name(message)) + " message, not a job manifest");
    visit(message);
    ++records;
    at = next;
  }
  // A sink killed between a write and its sync left records that may be in
  // no more than the page cache: they count as durable, and are acked, once
  // synced.
  if (records > 0 && ::fdatasync(fd) != 0)
    throw std::runtime_error("cannot sync --journal " + path_ + ": " + errno_text() + "; check the disk");
  const std::lock_guard lock(mutex_);
  end_ = at;
  carry_partial_block();
  return records;
}

bool Journal::zeros_from(off_t offset, off_t size) {
  char chunk[1 << 16];
  while (offset < size) {
    const auto wanted = static_cast<std::size_t>(std::min<off_t>(size - offset, static_cast<off_t>(sizeof chunk)));
    const ssize_t got = ::pread(file_.fd(), chunk, wanted, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error("cannot read --journal " + path_ + ": " + errno_text());
    if (got == 0) return true;
    if (std::any_of(chunk, chunk + got, [](char byte) { return byte != '\0'; })) return false;
    offset += got;
  }
  return true;
}

void Journal::cut_at(off_t offset, off_t size, std::string_view why) {
  log_line("journal " + path_ + ": cutting off " + std::to_string(size - offset) + " byte(s) at its end (" +
           std::string(why) + ")");
  if (::ftruncate(file_.fd(), offset) != 0 || ::fdatasync(file_.fd()) != 0)
    throw std::runtime_error("cannot repair --journal " + path_ + ": " + errno_text() +
                             "; check the disk, or move the journal away to start afresh");
}

std::uint64_t Journal::append(std::string_view frame) {
  if (frame.size() > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("a journal record holds at most 4 GiB");
  replay_allowed_ = false;
  const auto length = static_cast<std::uint32_t>(frame.size());
  const char header[header_bytes] = {static_cast<char>(length & 0xff), static_cast<char>(length >> 8 & 0xff),
                                     static_cast<char>(length >> 16 & 0xff), static_cast<char>(length >> 24 & 0xff)};
  bool start_writing = false;
  {
    const std::lock_guard lock(mutex_);
    pending_.append(header, header_bytes);
    pending_.append(frame.data(), frame.size());
    pending_last_ = ++appended_;
    if (pending_.size() - pending_carried_ >= write_at_bytes && !sync_requested_) start_writing = sync_requested_ = true;
  }
  if (start_writing) wanted_.notify_one();
  return appended_;
}

std::uint64_t Journal::append(const Message& message) {
  encode(message, frame_);
  return append(frame_);
}

void Journal::request_sync() {
  {
    const std::lock_guard lock(mutex_);
    if (pending_.size() == pending_carried_ || sync_requested_) return;
    sync_requested_ = true;
  }
  wanted_.notify_one();
}

void Journal::drain_wake() {
  std::uint64_t count = 0;
  while (::read(wake_fd_, &count, sizeof count) < 0 && errno == EINTR) {
  }
}

void Journal::check() const {
  if (!failed_.load(std::memory_order_acquire)) return;
  const std::lock_guard lock(mutex_);
  throw std::runtime_error(error_);
}

// The writer thread: takes what was appended, writes it, syncs it, and
// publishes how far the journal is durable; on its way out, the same once more.
void Journal::write_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wanted_.wait(lock, [this] { return sync_requested_ || stopping_; });
    const bool stopping = stopping_;
    sync_requested_ = false;
    // After a failure nothing more is written: what the disk holds beyond
    // the last sync is unknown, and writing on could put records after a gap.
    if (!failed_.load() && pending_.size() > pending_carried_) {
      writing_.swap(pending_);
      const std::size_t carried = pending_carried_;
      const std::uint64_t last = pending_last_;
      // The next write starts again at the block where this one ends, with
      // this one's bytes of it.
      const off_t written_end = end_ + static_cast<off_t>(writing_.size() - carried);
      const auto next_carried = direct() ? static_cast<std::size_t>(written_end % static_cast<off_t>(block_bytes)) : 0;
      pending_.clear();
      pending_.append(writing_.data() + writing_.size() - next_carried, next_carried);
      pending_carried_ = next_carried;
      lock.unlock();
      const bool written = direct() ? write_direct(carried)
                                    : write_all({writing_.data() + carried, writing_.size() - carried});
      if (written) {
        if (::fdatasync(file_.fd()) == 0) {
          synced_.store(last, std::memory_order_release);
          signal_wake();
        } else {
          fail("cannot sync --journal " + path_ + ": " + errno_text() +
               "; check the disk and restart the sink (the journal keeps what was synced before)");
        }
      }
      lock.lock();
    }
    if (stopping) return;
  }
}

// Writes all of `bytes` at end_, going on from where a short write stopped:
// no byte is ever written twice. Returns false (after fail()) on an error.
bool Journal::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::pwrite(file_.fd(), bytes.data(), bytes.size(), end_);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      const std::string reason = written < 0 ? errno_text() : "nothing written";
      fail("cannot write --journal " + path_ + ": " + reason +
           "; free space or fix the disk and restart the sink (the journal keeps what was synced before)");
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(written));
    end_ += written;
  }
  return true;
}

// Writes writing_ (its first `carried` bytes already in the file) in whole
// blocks from the block that holds end_. Where the file system turns direct
// writes down after all, the rest goes through the page cache from then on.
bool Journal::write_direct(std::size_t carried) {
  const off_t start = end_ - static_cast<off_t>(carried);
  const std::size_t through = writing_.size();  // the records end here; zeros follow
  const std::size_t padded = writing_.pad_to_block();
  for (std::size_t done = 0; done < padded;) {
    const ssize_t written = ::pwrite(direct_fd_, writing_.data() + done, padded - done, start + static_cast<off_t>(done));
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && errno == EINVAL) {
      direct_.store(false, std::memory_order_release);
      const std::size_t from = std::max(done, carried);
      if (from >= through) break;
      end_ = start + static_cast<off_t>(from);
      return write_all({writing_.data() + from, through - from});
    }
    if (written <= 0) {
      const std::string reason = written < 0 ? errno_text() : "nothing written";
      fail("cannot write --journal " + path_ + ": " + reason +
           "; free space or fix the disk and restart the sink (the journal keeps what was synced before)");
      return false;
    }
    done += static_cast<std::size_t>(written);
  }
  end_ = start + static_cast<off_t>(through);
  return true;
}

void Journal::fail(std::string message) {
  {
    const std::lock_guard lock(mutex_);
    error_ = std::move(message);
  }
  failed_.store(true, std::memory_order_release);
  signal_wake();  // the caller's poll wakes and check() tells it
}

void Journal::signal_wake() {
  const std::uint64_t one = 1;
  while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

}  // namespace zpipe
