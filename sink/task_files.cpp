// See task_files.hpp.
#include "task_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace zpipe {
namespace {

void write_fully(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) throw std::runtime_error("cannot write " + what + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
  try {
    write_fully(fd, bytes, path.string());
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

void append_column(std::string& out, std::string_view text) {
  for (const char c : text) out.push_back(c == '\t' || c == '\n' || c == '\r' ? ' ' : c);
}

void append_seconds(std::string& out, std::int64_t microseconds, int width) {
  char text[48];
  std::snprintf(text, sizeof text, "%*.3f", width, static_cast<double>(microseconds) / 1e6);
  out.append(text);
}

}  // namespace

void append_joblog_line(std::string& out, const Result& result, std::string_view worker) {
  out.append(std::to_string(result.id));
  out.push_back('\t');
  const auto* exec = std::get_if<ExecValue>(&result.value);
  if (exec == nullptr) {
    append_column(out, worker);
    out.append("\t0.000\t     0.000\t0\t0\t");
    out.append(result.ok ? "0" : "1");
    out.append("\t0\t\n");
    return;
  }
  const ExecRecord& record = **exec;
  append_column(out, record.host);
  out.push_back('\t');
  append_seconds(out, record.started_us, 0);  // parallel: %.3f
  out.push_back('\t');
  append_seconds(out, record.duration_us, 10);  // parallel: %10.3f
  out.append("\t0\t");
  out.append(std::to_string(record.out.size()));
  out.push_back('\t');
  out.append(std::to_string(record.exit_code >= 0 ? record.exit_code : 0));
  out.push_back('\t');
  out.append(std::to_string(record.signal));
  out.push_back('\t');
  append_column(out, record.command);
  out.push_back('\n');
}

TaskFiles::TaskFiles(const std::string& joblog, const std::string& results_dir, bool keep) : results_dir_(results_dir) {
  if (!joblog.empty()) {
    joblog_.emplace(LockedFile::open(joblog, "--joblog", 0644));
    if (!keep) joblog_->truncate();
    if (::lseek(joblog_->fd(), 0, SEEK_END) == 0) write_fully(joblog_->fd(), joblog_header, "--joblog");
  }
  if (!results_dir_.empty()) {
    std::error_code error;
    std::filesystem::create_directories(results_dir_, error);
    if (error) throw std::runtime_error("cannot create --results " + results_dir_ + ": " + error.message());
  }
}

void TaskFiles::write(const Result& result, std::string_view worker) {
  if (joblog_) {
    line_.clear();
    append_joblog_line(line_, result, worker);
    write_fully(joblog_->fd(), line_, "--joblog");
  }
  if (!results_dir_.empty()) write_results_dir(result);
}

void TaskFiles::write_attempt(const Result& result, std::string_view worker) {
  if (!joblog_) return;
  line_.clear();
  append_joblog_line(line_, result, worker);
  write_fully(joblog_->fd(), line_, "--joblog");
}

// DIR/<task id>/: stdout and stderr as the command wrote them, exitval its
// exit status (128 + N when signal N ended it, as a shell's $? says). A
// result of another kind: its value in stdout, its error in stderr, exitval
// 0 or 1.
void TaskFiles::write_results_dir(const Result& result) {
  const std::filesystem::path dir = std::filesystem::path(results_dir_) / std::to_string(result.id);
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) throw std::runtime_error("cannot create " + dir.string() + ": " + error.message());
  if (const auto* exec = std::get_if<ExecValue>(&result.value)) {
    const ExecRecord& record = **exec;
    write_file(dir / "stdout", record.out);
    write_file(dir / "stderr", record.err);
    write_file(dir / "exitval", std::to_string(record.signal != 0 ? 128 + record.signal : record.exit_code) + "\n");
    return;
  }
  write_file(dir / "stdout", result.ok ? as_text(result.value) : std::string());
  write_file(dir / "stderr", result.ok ? std::string() : as_text(result.value) + "\n");
  write_file(dir / "exitval", result.ok ? "0\n" : "1\n");
}

}  // namespace zpipe
