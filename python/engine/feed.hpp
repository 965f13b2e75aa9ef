// The payloads a Python program submits, on their way to the ventilator's
// thread: a bounded queue that Python fills (Feed) and the ventilator reads as
// its TaskSource (FeedSource), with the job's total and fingerprint
// (PROTOCOL.md §5.1, a job of values) known once the input is closed.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "zpipe/task_source.hpp"
#include "zpipe/value.hpp"

namespace zpipe_python {

inline constexpr std::size_t feed_capacity = 1 << 16;  // payloads queued ahead of the ventilator

// 64-bit FNV-1a, as PROTOCOL.md §5.1.
class Fnv1a {
 public:
  void add(std::string_view bytes) {
    for (const char c : bytes) {
      hash_ ^= static_cast<unsigned char>(c);
      hash_ *= 0x100000001b3ULL;
    }
    count_ += bytes.size();
  }
  [[nodiscard]] std::string text() const {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash_));
    return "fnv1a64:" + std::string(hex) + ":" + std::to_string(count_);
  }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::uint64_t count_ = 0;
};

// A payload's canonical msgpack bytes, for the fingerprint of a job of values.
inline void msgpack_of(const zpipe::Value& value, std::string& out) {
  out.clear();
  auto big_endian = [&out](std::uint64_t n, int bytes) {
    for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  };
  if (const auto* number = std::get_if<std::int64_t>(&value)) {
    const std::int64_t n = *number;
    const auto bits = static_cast<std::uint64_t>(n);
    if (n >= 0 && n < 0x80) out.push_back(static_cast<char>(n));
    else if (n >= 0 && n <= 0xff) { out.push_back(static_cast<char>(0xcc)); big_endian(bits, 1); }
    else if (n >= 0 && n <= 0xffff) { out.push_back(static_cast<char>(0xcd)); big_endian(bits, 2); }
    else if (n >= 0 && n <= 0xffffffffLL) { out.push_back(static_cast<char>(0xce)); big_endian(bits, 4); }
    else if (n >= 0) { out.push_back(static_cast<char>(0xcf)); big_endian(bits, 8); }
    else if (n >= -32) out.push_back(static_cast<char>(n));
    else if (n >= -128) { out.push_back(static_cast<char>(0xd0)); big_endian(bits, 1); }
    else if (n >= -32768) { out.push_back(static_cast<char>(0xd1)); big_endian(bits, 2); }
    else if (n >= -2147483648LL) { out.push_back(static_cast<char>(0xd2)); big_endian(bits, 4); }
    else { out.push_back(static_cast<char>(0xd3)); big_endian(bits, 8); }
  } else if (const auto* text = std::get_if<std::string>(&value)) {
    const std::size_t n = text->size();
    if (n < 32) out.push_back(static_cast<char>(0xa0 | n));
    else if (n <= 0xff) { out.push_back(static_cast<char>(0xd9)); big_endian(n, 1); }
    else if (n <= 0xffff) { out.push_back(static_cast<char>(0xda)); big_endian(n, 2); }
    else { out.push_back(static_cast<char>(0xdb)); big_endian(n, 4); }
    out.append(*text);
  } else {
    out.push_back(static_cast<char>(0xc0));
  }
}

// The payloads Python submits, on their way to the ventilator's thread.
/// Thread-safe: Python pushes, the ventilator takes. The eventfd wakes the
/// ventilator's poll when a push finds the queue empty, and on close.
class Feed {
 public:
  explicit Feed(const std::string& kind) : wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (wake_ < 0) throw std::runtime_error("eventfd failed");
    fingerprint_.add(kind);
    fingerprint_.add(std::string_view("\0values:", 8));
  }
  ~Feed() { ::close(wake_); }
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  /// Queues what fits; returns how many were taken (0: full, or abandoned).
  std::size_t push(std::vector<zpipe::Value>& values, std::size_t from) {
    std::lock_guard lock(mutex_);
    if (abandoned_ || closed_) return values.size() - from;
    const bool was_empty = queue_.empty();
    std::size_t taken = 0;
    for (std::size_t i = from; i < values.size() && queue_.size() < feed_capacity; ++i, ++taken) {
      msgpack_of(values[i], scratch_);
      fingerprint_.add(scratch_);
      queue_.push_back(std::move(values[i]));
    }
    pushed_ += taken;
    if (was_empty && taken > 0) signal();
    return taken;
  }
  /// Waits up to `for_at_most` for room in the queue.
  void wait_for_room(std::chrono::milliseconds for_at_most) {
    std::unique_lock lock(mutex_);
    room_.wait_for(lock, for_at_most, [&] { return abandoned_ || queue_.size() < feed_capacity; });
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    signal();
  }
  void abandon() {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
    room_.notify_all();
  }
  [[nodiscard]] bool closed() const {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  // For the TaskSource, on the ventilator's thread.
  std::optional<zpipe::SourceTask> next() {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) {
      std::uint64_t drained = 0;
      [[maybe_unused]] const auto got = ::read(wake_, &drained, sizeof drained);
      return std::nullopt;  // a push after this writes to wake_ again
    }
    zpipe::SourceTask task{std::move(queue_.front()), {}};
    queue_.pop_front();
    if (queue_.size() + 1 == feed_capacity || queue_.size() < feed_capacity / 2) room_.notify_all();
    return task;
  }
  [[nodiscard]] bool exhausted() const {
    std::lock_guard lock(mutex_);
    return closed_ && queue_.empty();
  }
  [[nodiscard]] int fd() const { return wake_; }
  [[nodiscard]] std::optional<std::uint64_t> total() const {
    std::lock_guard lock(mutex_);
    return closed_ ? std::optional(pushed_) : std::nullopt;
  }
  [[nodiscard]] std::optional<std::string> fingerprint() const {
    std::lock_guard lock(mutex_);
    return closed_ ? std::optional(fingerprint_.text()) : std::nullopt;
  }

 private:
  void signal() {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto put = ::write(wake_, &one, sizeof one);
  }

  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::deque<zpipe::Value> queue_;
  std::string scratch_;
  Fnv1a fingerprint_;
  std::uint64_t pushed_ = 0;
  bool closed_ = false;
  bool abandoned_ = false;
  int wake_;
};

class FeedSource final : public zpipe::TaskSource {
 public:
  explicit FeedSource(std::shared_ptr<Feed> feed) : feed_(std::move(feed)) {}
  std::optional<zpipe::SourceTask> next() override { return feed_->next(); }
  [[nodiscard]] bool exhausted() const override { return feed_->exhausted(); }
  [[nodiscard]] int input_fd() const override { return feed_->fd(); }
  [[nodiscard]] std::optional<std::uint64_t> known_total() const override { return feed_->total(); }
  [[nodiscard]] std::optional<std::string> fingerprint() const override { return feed_->fingerprint(); }

 private:
  std::shared_ptr<Feed> feed_;
};


}  // namespace zpipe_python
