// See task_source.hpp.
#include "task_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace zpipe {
namespace {

class CountSource final : public TaskSource {
 public:
  explicit CountSource(std::uint64_t count) : count_(count) {}
  std::optional<SourceTask> next() override {
    if (next_ > count_) return std::nullopt;
    return SourceTask{Value{static_cast<std::int64_t>(next_++)}, {}};
  }
  bool exhausted() const override { return next_ > count_; }
  std::optional<std::uint64_t> known_total() const override { return count_; }

 private:
  std::uint64_t count_;
  std::uint64_t next_ = 1;
};

class LineSource final : public TaskSource {
 public:
  LineSource(int fd, bool owned, std::string name, std::size_t max_line_bytes)
      : fd_(fd), owned_(owned), name_(std::move(name)), max_line_bytes_(max_line_bytes) {
    buffer_.resize(chunk_bytes);
  }
  ~LineSource() override {
    if (owned_) ::close(fd_);
  }
  LineSource(const LineSource&) = delete;
  LineSource& operator=(const LineSource&) = delete;

  std::optional<SourceTask> next() override {
    for (;;) {
      if (auto task = take_line()) return task;
      if (at_end_) return take_last_line();
      if (!fill()) return std::nullopt;
    }
  }
  bool exhausted() const override { return at_end_ && begin_ == end_ && !skipping_; }
  int input_fd() const override { return fd_; }

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
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, 0) == 0) return false;
    const ssize_t got = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) return false;
      throw std::runtime_error("cannot read " + name_ + ": " + std::strerror(errno));
    }
    if (got == 0) at_end_ = true;
    end_ += static_cast<std::size_t>(got);
    return true;
  }

  int fd_;
  bool owned_;
  std::string name_;
  std::size_t max_line_bytes_;
  std::string buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::uint64_t line_ = 0;
  bool at_end_ = false;
  bool skipping_ = false;
};

}  // namespace

std::unique_ptr<TaskSource> count_source(std::uint64_t count) { return std::make_unique<CountSource>(count); }

std::unique_ptr<TaskSource> line_source(const std::string& path, std::size_t max_line_bytes) {
  if (path == "-") return std::make_unique<LineSource>(STDIN_FILENO, false, "stdin", max_line_bytes);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open --input " + path + ": " + std::strerror(errno));
  return std::make_unique<LineSource>(fd, true, path, max_line_bytes);
}

}  // namespace zpipe
