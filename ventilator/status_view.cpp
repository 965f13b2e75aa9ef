// See status_view.hpp.
#include "status_view.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "zpipe/log.hpp"

namespace zpipe {
namespace {

constexpr std::size_t shown_bytes_at_most = 64;

std::string duration_text(std::uint64_t ms) {
  const std::uint64_t seconds = ms / 1000;
  char text[64];
  if (seconds < 60) std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms) / 1000);
  else if (seconds < 3600) std::snprintf(text, sizeof text, "%llum %02llus", static_cast<unsigned long long>(seconds / 60),
                                         static_cast<unsigned long long>(seconds % 60));
  else std::snprintf(text, sizeof text, "%lluh %02llum", static_cast<unsigned long long>(seconds / 3600),
                     static_cast<unsigned long long>(seconds / 60 % 60));
  return text;
}

std::string padded(std::string text, std::size_t width, bool right) {
  if (text.size() >= width) return text;
  return right ? std::string(width - text.size(), ' ') + text : text + std::string(width - text.size(), ' ');
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : printable(text, shown_bytes_at_most)) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void append_json_field(std::string& out, std::string_view name, std::uint64_t number) {
  out += '"';
  out += name;
  out += "\":";
  out += std::to_string(number);
  out += ',';
}

void append_json_field(std::string& out, std::string_view name, const std::optional<std::uint64_t>& number) {
  if (number) return append_json_field(out, name, *number);
  out += '"';
  out += name;
  out += "\":null,";
}

}  // namespace

std::optional<std::uint64_t> eta_ms(const Status& status) {
  if (!status.total || status.rate == 0) return std::nullopt;
  const std::uint64_t remaining = *status.total - std::min(*status.total, status.acknowledged);
  return remaining * 1000 / status.rate;
}

std::string format_status_text(const Status& status) {
  std::string text = "job " + std::to_string(status.job) + " (kind " + printable(status.kind, shown_bytes_at_most) +
                     "): " + printable(status.phase, shown_bytes_at_most) + ", running " +
                     duration_text(status.elapsed_ms) + "\n";
  text += "tasks    " + std::to_string(status.acknowledged) + " of " +
          (status.total ? std::to_string(*status.total) : std::string("?")) + " done";
  if (status.total && *status.total > 0) {
    char percent[32];
    std::snprintf(percent, sizeof percent, " (%.1f%%)",
                  100.0 * static_cast<double>(std::min(status.acknowledged, *status.total)) / static_cast<double>(*status.total));
    text += percent;
  }
  text += ", " + std::to_string(status.in_flight) + " in flight, " + std::to_string(status.failed) + " failed, " +
          std::to_string(status.retried) + " retried, " + std::to_string(status.dealt_again) + " dealt again\n";
  const auto eta = eta_ms(status);
  text += "rate     " + std::to_string(status.rate) + " tasks/s, ETA " + (eta ? duration_text(*eta) : std::string("unknown")) +
          "\n";
  text += "workers  " + std::to_string(status.workers) + " connected, " + std::to_string(status.workers_lost) + " lost\n";
  if (status.rows.empty()) return text;
  std::vector<const WorkerStatus*> rows;
  for (const WorkerStatus& row : status.rows) rows.push_back(&row);
  std::sort(rows.begin(), rows.end(), [](const WorkerStatus* a, const WorkerStatus* b) { return a->name < b->name; });
  std::size_t name_width = 6, host_width = 4;
  for (const WorkerStatus* row : rows) {
    name_width = std::max(name_width, printable(row->name, shown_bytes_at_most).size());
    host_width = std::max(host_width, printable(row->host, shown_bytes_at_most).size());
  }
  text += "\n" + padded("WORKER", name_width, false) + "  " + padded("HOST", host_width, false) + "  " +
          padded("HELD", 8, true) + "  " + padded("DONE", 12, true) + "  LAST SEEN\n";
  for (const WorkerStatus* row : rows)
    text += padded(printable(row->name, shown_bytes_at_most), name_width, false) + "  " +
            padded(printable(row->host, shown_bytes_at_most), host_width, false) + "  " +
            padded(std::to_string(row->held), 8, true) + "  " + padded(std::to_string(row->done), 12, true) + "  " +
            duration_text(row->idle_ms) + " ago\n";
  if (status.workers > status.rows.size())
    text += "(" + std::to_string(status.workers - status.rows.size()) + " more workers, holding fewer tasks)\n";
  return text;
}

std::string format_status_json(const Status& status) {
  std::string out = "{";
  append_json_field(out, "job", status.job);
  out += "\"kind\":";
  append_json_string(out, status.kind);
  out += ",\"phase\":";
  append_json_string(out, status.phase);
  out += ',';
  append_json_field(out, "total", status.total);
  append_json_field(out, "read", status.read);
  append_json_field(out, "acknowledged", status.acknowledged);
  append_json_field(out, "failed", status.failed);
  append_json_field(out, "retried", status.retried);
  append_json_field(out, "in_flight", status.in_flight);
  append_json_field(out, "dealt_again", status.dealt_again);
  append_json_field(out, "workers_lost", status.workers_lost);
  append_json_field(out, "elapsed_ms", status.elapsed_ms);
  append_json_field(out, "rate", status.rate);
  append_json_field(out, "eta_ms", eta_ms(status));
  append_json_field(out, "workers_connected", status.workers);
  out += "\"workers\":[";
  for (std::size_t i = 0; i < status.rows.size(); ++i) {
    const WorkerStatus& row = status.rows[i];
    out += i == 0 ? "{\"name\":" : ",{\"name\":";
    append_json_string(out, row.name);
    out += ",\"host\":";
    append_json_string(out, row.host);
    out += ',';
    append_json_field(out, "held", row.held);
    append_json_field(out, "done", row.done);
    out += "\"idle_ms\":" + std::to_string(row.idle_ms) + "}";
  }
  out += "]}\n";
  return out;
}

}  // namespace zpipe
