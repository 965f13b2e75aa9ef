// Latency percentiles as scripts/bench.sh prints them, shared by the two
// latency measurers (latency_probe.cpp for zpipe, raw_relay.cpp --rate for
// the bare transport) so that both report exactly the same figures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace zpipe::bench {

/// Nanosecond samples; a percentile is the smallest sample that at least
/// that fraction of all samples is at or below (nearest rank, no
/// interpolation), so p99.9 of 1000 samples is the largest but one.
class LatencySamples {
 public:
  void reserve(std::size_t count) { nanoseconds_.reserve(count); }
  void add(std::int64_t nanoseconds) { nanoseconds_.push_back(nanoseconds); }
  [[nodiscard]] std::size_t size() const { return nanoseconds_.size(); }

  /// Sorts the samples; call once all are in, before percentile().
  void finish() { std::sort(nanoseconds_.begin(), nanoseconds_.end()); }

  /// Returns the nearest-rank percentile (fraction 0 < q <= 1), or 0 with
  /// no samples.
  [[nodiscard]] std::int64_t percentile(double q) const {
    if (nanoseconds_.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(nanoseconds_.size())));
    return nanoseconds_[std::clamp<std::size_t>(rank, 1, nanoseconds_.size()) - 1];
  }

  /// One line, key=value in microseconds, that bench.sh parses:
  /// samples=N p50_us=.. p99_us=.. p999_us=.. max_us=..
  void summary(std::ostream& out) const {
    const auto us = [](std::int64_t ns) { return std::to_string(static_cast<double>(ns) / 1000.0); };
    out << "samples=" << nanoseconds_.size() << " p50_us=" << us(percentile(0.5)) << " p99_us=" << us(percentile(0.99))
        << " p999_us=" << us(percentile(0.999)) << " max_us=" << us(percentile(1.0)) << '\n';
  }

  /// Writes the sorted samples as "microseconds fraction_at_or_below", one
  /// a line: the CDF that bench.sh --plot draws. Throws when it cannot.
  void write_cdf(const std::string& path) const {
    std::ofstream file(path);
    if (!file) throw std::runtime_error("cannot write --samples " + path);
    const auto count = static_cast<double>(nanoseconds_.size());
    for (std::size_t i = 0; i < nanoseconds_.size(); ++i)
      file << static_cast<double>(nanoseconds_[i]) / 1000.0 << ' ' << static_cast<double>(i + 1) / count << '\n';
    if (!file.flush()) throw std::runtime_error("cannot write --samples " + path);
  }

 private:
  std::vector<std::int64_t> nanoseconds_;
};

}  // namespace zpipe::bench
