// See metrics_file.hpp.
#include "zpipe/metrics_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "zpipe/log.hpp"

namespace zpipe {
namespace {

const char* type_name(PrometheusText::Type type) {
  switch (type) {
    case PrometheusText::Type::counter: return "counter";
    case PrometheusText::Type::gauge: return "gauge";
    case PrometheusText::Type::summary: return "summary";
  }
  return "untyped";
}

// Label values escape backslash, double quote and newline (text format 0.0.4).
void append_label_value(std::string& out, std::string_view value) {
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

}  // namespace

PrometheusText& PrometheusText::family(std::string_view name, Type type, std::string_view help) {
  family_ = name;
  text_.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name).append(" ");
  text_.append(type_name(type)).push_back('\n');
  return *this;
}

void PrometheusText::sample_name(Labels labels, std::string_view suffix) {
  text_.append(family_).append(suffix);
  if (labels.size() == 0) return;
  text_.push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) text_.push_back(',');
    first = false;
    text_.append(name).append("=\"");
    append_label_value(text_, value);
    text_.push_back('"');
  }
  text_.push_back('}');
}

PrometheusText& PrometheusText::sample(std::uint64_t value, Labels labels, std::string_view suffix) {
  sample_name(labels, suffix);
  text_.append(" ").append(std::to_string(value)).push_back('\n');
  return *this;
}

PrometheusText& PrometheusText::sample(double value, Labels labels, std::string_view suffix) {
  sample_name(labels, suffix);
  char number[32];
  std::snprintf(number, sizeof number, "%.9g", value);
  text_.append(" ").append(number).push_back('\n');
  return *this;
}

void MetricsFile::write(const PrometheusText& exposition, Clock::time_point now) {
  if (path_.empty()) return;  // no --metrics-file
  next_ = now + interval;
  // In the same directory, so the rename is atomic; the textfile collector
  // reads only *.prom, so the temporary name is never scraped.
  const std::filesystem::path temporary = path_.string() + ".tmp";
  int error = 0;
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = errno;
  } else {
    if (!write_all(fd, exposition.text())) error = errno != 0 ? errno : EIO;
    if (::close(fd) != 0 && error == 0) error = errno;
    if (error == 0 && ::rename(temporary.c_str(), path_.c_str()) != 0) error = errno;
    if (error != 0) ::unlink(temporary.c_str());
  }
  if (error == 0) {
    failure_logged_ = false;
    return;
  }
  if (failure_logged_) return;
  failure_logged_ = true;
  log_warning("cannot write --metrics-file " + path_.string() + ": " + std::strerror(error) +
              "; the job goes on, and the file is tried again every second (is its directory writable?)");
}

}  // namespace zpipe
