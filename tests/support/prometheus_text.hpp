// A strict reader of Prometheus' text format (0.0.4), for the metrics tests:
// it accepts what zpipe must write and fails the test on anything else.
#pragma once

#include <filesystem>
#include <map>
#include <string>

namespace zpipe::testing {

/// Reads an exposition: every family has # HELP then # TYPE (counter, gauge
/// or summary) before its samples, each sample belongs to the family above
/// it (a summary's as _sum and _count), counters end in _total, names and
/// labels have the allowed shapes, values are numbers, nothing repeats, and
/// the text ends with a newline. Returns each sample, keyed by its name and
/// labels as written ("zpipe_x_total{reason=\"framing\"}"). REQUIREs on
/// anything else.
std::map<std::string, double> read_prometheus_text(const std::string& text);

/// Runs `promtool check metrics` on `file` when promtool is installed:
/// returns its exit status, or -1 when there is none.
int promtool_check(const std::filesystem::path& file);

}  // namespace zpipe::testing
