// See task_source.hpp.
#include "zpipe/task_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "fingerprint.hpp"
#include "zpipe/exit_codes.hpp"

namespace zpipe {
namespace {

class CountSource final : public TaskSource {
 public:
  CountSource(std::string_view kind, std::uint64_t count) : count_(count), fingerprint_(job_fingerprint(kind, count)) {}
  std::optional<SourceTask> next() override {
    if (next_ > count_) return std::nullopt;
    return SourceTask{Value{static_cast<std::int64_t>(next_++)}, {}};
  }
  bool exhausted() const override { return next_ > count_; }
  std::optional<std::uint64_t> known_total() const override { return count_; }
  std::optional<std::string> fingerprint() const override { return fingerprint_; }

 private:
  std::uint64_t count_;
  std::string fingerprint_;
  std::uint64_t next_ = 1;
};

// Closes the descriptor it owns, even when the source's constructor throws;
// stdin is borrowed, not owned.
class Descriptor {
 public:
  Descriptor(int fd, bool owned) : fd_(fd), owned_(owned) {}
  ~Descriptor() {
    if (owned_) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
  bool owned_;
};

// What a scan of a regular file found: what the real read must find again.
struct Scan {
  std::uint64_t tasks = 0;
  std::uint64_t input_bytes = 0;
  std::string fingerprint;
};

// Counts the lines of a regular file from `offset` to its end as LineSource
// yields them (one per newline, plus an unterminated last line; an over-long
// line is still one) and fingerprints it, with pread so the descriptor's
// offset is left for the real read. `buffer` bounds the memory used.
Scan scan_regular_file(int fd, off_t offset, const std::string& path, std::string_view kind, std::string& buffer) {
  Fnv1a64 hash = input_job_hasher(kind);
  Scan scan;
  char last = '\n';  // an empty file has no unterminated line
  for (;;) {
    const ssize_t got = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error("cannot read --input " + path + ": " + std::strerror(errno));
    if (got == 0) break;
    const std::string_view chunk(buffer.data(), static_cast<std::size_t>(got));
    hash.add(chunk);
    scan.tasks += static_cast<std::uint64_t>(std::count(chunk.begin(), chunk.end(), '\n'));
    scan.input_bytes += chunk.size();
    last = chunk.back();
    offset += got;
  }
  if (last != '\n') ++scan.tasks;
  scan.fingerprint = hash.text();
  return scan;
}

class LineSource final : public TaskSource {
 public:
  LineSource(int fd, bool owned, std::string path, const LineSourceOptions& options)
      : fd_(fd, owned),
        path_(std::move(path)),
        name_(path_ == "-" ? "stdin" : path_),
        max_line_bytes_(options.max_line_bytes),
        hash_(input_job_hasher(options.kind)) {
    buffer_.resize(chunk_bytes);
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw std::runtime_error("cannot stat --input " + path_ + ": " + std::strerror(errno));
    if (!S_ISREG(info.st_mode)) {
      if (options.fingerprint_before_dealing)
        throw usage_error("--resume needs --count or a regular --input file: a pipe cannot be checked against the "
                          "job it resumes");
      return;
    }
    // Stdin redirected from a file may have been read partly already; the
    // job is what is left.
    const off_t offset = ::lseek(fd, 0, SEEK_CUR);
    if (offset < 0) throw std::runtime_error("cannot seek in --input " + path_ + ": " + std::strerror(errno));
    scan_ = scan_regular_file(fd, offset, path_, options.kind, buffer_);
  }

  std::optional<SourceTask> next() override {
    for (;;) {
      if (auto task = take_line()) return task;
      if (at_end_) return take_last_line();
      if (!fill()) return std::nullopt;
    }
  }
  bool exhausted() const override { return at_end_ && begin_ == end_ && !skipping_; }
  int input_fd() const override { return fd_.get(); }
  std::optional<std::uint64_t> known_total() const override {
    if (scan_) return scan_->tasks;
    if (exhausted()) return line_;
    return std::nullopt;
  }
  std::optional<std::string> fingerprint() const override {
    if (scan_) return scan_->fingerprint;
    if (exhausted()) return hash_.text();
    return std::nullopt;
  }

 private:
  static constexpr std::size_t chunk_bytes = 256 * 1024;

  // A complete line in the buffer, if there is one.
  std::optional<SourceTask> take_line() {
    const char* start = buffer_.data() + begin_;
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', end_ - begin_));
    if (newline == nullptr) {
      // Keep at most one over-long line's worth; the rest is skipped to its end.
      if (end_ - begin_ > max_line_bytes_ && !skipping_) {
        skipping_ = true;
        begin_ = end_ = 0;
      } else if (skipping_) {
        begin_ = end_ = 0;
      }
      return std::nullopt;
    }
    const std::size_t length = static_cast<std::size_t>(newline - start);
    begin_ += length + 1;
    ++line_;
    if (skipping_ || length > max_line_bytes_) {
      skipping_ = false;
      return too_long();
    }
    return make_task(std::string_view(start, length));
  }

  std::optional<SourceTask> take_last_line() {
    if (skipping_) {
      skipping_ = false;
      ++line_;
      return too_long();
    }
    if (begin_ == end_) return std::nullopt;
    ++line_;
    const std::string_view rest(buffer_.data() + begin_, end_ - begin_);
    begin_ = end_;
    if (rest.size() > max_line_bytes_) return too_long();
    return make_task(rest);
  }

  SourceTask make_task(std::string_view line) const {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return SourceTask{Value{std::string(line)}, {}};
  }

  SourceTask too_long() const {
    return SourceTask{Value{}, "line " + std::to_string(line_) + " of " + name_ + " is longer than " +
                                   std::to_string(max_line_bytes_) + " bytes, the most a task payload may be"};
  }

  // Reads what is there without blocking. Returns false when nothing was.
  bool fill() {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buffer_.size() - end_ < chunk_bytes / 2) buffer_.resize(std::max(buffer_.size() * 2, end_ + chunk_bytes));
    std::size_t room = buffer_.size() - end_;
    if (scan_) {
      // Read no further than the scan did, so that a file that grew never
      // yields more tasks than the total already announced.
      room = std::min<std::uint64_t>(room, scan_->input_bytes - (hash_.size() - prefix_bytes_));
      if (room == 0) return end_of_regular_file();
    }
    pollfd ready{fd_.get(), POLLIN, 0};
    if (::poll(&ready, 1, 0) == 0) return false;
    const ssize_t got = ::read(fd_.get(), buffer_.data() + end_, room);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) return false;
      throw std::runtime_error("cannot read --input " + path_ + ": " + std::strerror(errno));
    }
    if (got == 0) {
      if (scan_) return end_of_regular_file();
      at_end_ = true;
      return true;
    }
    hash_.add(std::string_view(buffer_.data() + end_, static_cast<std::size_t>(got)));
    end_ += static_cast<std::size_t>(got);
    return true;
  }

  // The read reached the end of what the scan saw (or the file ended
  // sooner): it must have read the very same bytes, and no more must follow.
  bool end_of_regular_file() {
    char more = 0;
    ssize_t got = 0;
    do got = ::read(fd_.get(), &more, 1);
    while (got < 0 && errno == EINTR);
    if (got < 0) throw std::runtime_error("cannot read --input " + path_ + ": " + std::strerror(errno));
    if (got > 0 || hash_.text() != scan_->fingerprint)
      throw std::runtime_error("--input " + path_ + " changed while it was being read; the results may mix two "
                               "versions of it: run the job again on a copy that nothing writes to");
    at_end_ = true;
    return true;
  }

  Descriptor fd_;
  std::string path_;  // as given, for errors about the option
  std::string name_;  // for errors about a line
  std::size_t max_line_bytes_;
  Fnv1a64 hash_;  // of what the real read has seen so far
  std::uint64_t prefix_bytes_ = hash_.size();
  std::optional<Scan> scan_;  // regular files only
  std::string buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::uint64_t line_ = 0;
  bool at_end_ = false;
  bool skipping_ = false;
};

}  // namespace

std::unique_ptr<TaskSource> count_source(std::string_view kind, std::uint64_t count) {
  return std::make_unique<CountSource>(kind, count);
}

std::unique_ptr<TaskSource> line_source(const std::string& path, const LineSourceOptions& options) {
  if (path == "-") return std::make_unique<LineSource>(STDIN_FILENO, false, path, options);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open --input " + path + ": " + std::strerror(errno));
  return std::make_unique<LineSource>(fd, true, path, options);
}

}  // namespace zpipe
