// --metrics-file: a program's counters and gauges in Prometheus' text
// format (version 0.0.4), written every second for node_exporter's textfile
// collector. The file is written whole under another name and renamed over
// the old one, so a scraper never reads half of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace zpipe {

/// Builds the text of one exposition. Metric and label names are ours and
/// fixed; label values are escaped.
class PrometheusText {
 public:
  enum class Type { counter, gauge, summary };
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  /// Starts a family: its # HELP and # TYPE lines. Samples follow.
  PrometheusText& family(std::string_view name, Type type, std::string_view help);
  /// A sample of the family last started; `suffix` is "_sum" or "_count"
  /// for a summary.
  PrometheusText& sample(std::uint64_t value, Labels labels = {}, std::string_view suffix = {});
  PrometheusText& sample(double value, Labels labels = {}, std::string_view suffix = {});
  [[nodiscard]] const std::string& text() const { return text_; }

 private:
  void sample_name(Labels labels, std::string_view suffix);
  std::string text_;
  std::string family_;
};

class MetricsFile {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds interval{1};

  /// An empty path: no metrics, and due() is never true.
  explicit MetricsFile(std::filesystem::path path) : path_(std::move(path)) {}

  /// True when a new exposition is due (every `interval`).
  [[nodiscard]] bool due(Clock::time_point now) const { return !path_.empty() && now >= next_; }
  /// Writes `text` to PATH.tmp and renames it to PATH; the next is due an
  /// interval later. A write that fails is logged once (the program goes
  /// on: metrics are not worth stopping a job for) and tried again.
  void write(const PrometheusText& exposition, Clock::time_point now);

 private:
  std::filesystem::path path_;
  Clock::time_point next_{};
  bool failure_logged_ = false;
};

}  // namespace zpipe
