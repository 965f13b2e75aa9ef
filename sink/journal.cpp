// See journal.hpp.
#include "journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "zpipe/codec.hpp"
#include "zpipe/log.hpp"

namespace zpipe {
namespace {

constexpr auto sync_interval = std::chrono::milliseconds(20);
constexpr std::size_t sync_at_bytes = 8 * 1024 * 1024;

std::string read_all(int fd, const std::string& path) {
  std::string content;
  char chunk[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw std::runtime_error("cannot read --journal " + path + ": " + std::strerror(errno));
    if (got == 0) return content;
    content.append(chunk, static_cast<std::size_t>(got));
  }
}

void write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) throw std::runtime_error("cannot write --journal " + path + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

}  // namespace

Journal::Journal(const std::string& path, const std::function<void(const Message&)>& replay) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw std::runtime_error("cannot open --journal " + path + ": " + std::strerror(errno));
  try {
    replay_records(replay);
  } catch (...) {
    ::close(fd_);  // no destructor runs for a constructor that throws
    throw;
  }
}

void Journal::replay_records(const std::function<void(const Message&)>& replay) {
  const std::string& path = path_;
  const std::string content = read_all(fd_, path);
  std::size_t at = 0;
  std::uint64_t records = 0;
  while (content.size() - at >= 4) {
    std::uint32_t length = 0;
    for (int i = 3; i >= 0; --i) length = length << 8 | static_cast<unsigned char>(content[at + static_cast<std::size_t>(i)]);
    if (content.size() - at - 4 < length) break;  // torn by a crash mid-write
    Message message;
    try {
      message = decode(std::string_view(content).substr(at + 4, length));
    } catch (const codec_error& e) {
      throw std::runtime_error("--journal " + path + " is not a zpipe journal or is damaged at byte " +
                               std::to_string(at) + " (" + e.what() + "); move it away to start afresh");
    }
    if (records == 0 && !std::holds_alternative<JobManifest>(message))
      throw std::runtime_error("--journal " + path + " does not start with a job manifest; move it away to start afresh");
    replay(message);
    ++records;
    at += 4 + length;
  }
  if (at != content.size()) {
    log_line("journal: cutting off a torn record of " + std::to_string(content.size() - at) + " bytes at its end");
    if (::ftruncate(fd_, static_cast<off_t>(at)) != 0)
      throw std::runtime_error("cannot repair --journal " + path + ": " + std::strerror(errno));
  }
  if (::lseek(fd_, static_cast<off_t>(at), SEEK_SET) < 0)
    throw std::runtime_error("cannot seek --journal " + path + ": " + std::strerror(errno));
}

Journal::~Journal() {
  try {
    sync();
  } catch (const std::exception& e) {
    log_line(e.what());
  }
  ::close(fd_);
}

void Journal::append(const JobManifest& manifest) {
  encode(manifest, frame_);
  append_frame(frame_);
  sync();  // the job must be known before anything of it is acknowledged
}

void Journal::append(const ResultBatch& results) {
  encode(results, frame_);
  append_frame(frame_);
}

void Journal::append_encoded(std::string_view results_frame) { append_frame(results_frame); }

void Journal::append_frame(std::string_view frame) {
  if (pending_.empty()) oldest_pending_ = std::chrono::steady_clock::now();
  const auto length = static_cast<std::uint32_t>(frame.size());
  for (int i = 0; i < 4; ++i) pending_.push_back(static_cast<char>(length >> (8 * i) & 0xff));
  pending_.append(frame);
  if (pending_.size() >= sync_at_bytes) sync();
}

bool Journal::sync_due() const {
  return !pending_.empty() && std::chrono::steady_clock::now() - oldest_pending_ >= sync_interval;
}

void Journal::sync() {
  if (pending_.empty()) return;
  write_all(fd_, pending_, path_);
  pending_.clear();
  if (::fdatasync(fd_) != 0) throw std::runtime_error("cannot sync --journal " + path_ + ": " + std::strerror(errno));
}

}  // namespace zpipe
