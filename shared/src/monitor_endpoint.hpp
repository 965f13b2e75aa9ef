// The inproc endpoint a socket monitor publishes on: unique in the process,
// since each monitored socket needs its own (not installed: internal).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace zpipe {

inline std::string unique_monitor_endpoint() {
  static std::atomic<std::uint64_t> next{0};
  return "inproc://zpipe-monitor-" + std::to_string(next++);
}

}  // namespace zpipe
