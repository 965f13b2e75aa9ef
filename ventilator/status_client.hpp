// zpipe-status: asks a running ventilator how its job stands (PROTOCOL.md
// §6.6) over the workers' endpoint, and prints the answer, once or every
// --watch interval.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "zpipe/curve.hpp"

namespace zpipe {

struct StatusConfig {
  std::string ventilator = "tcp://127.0.0.1:5557";
  CurveConfig curve;           // a worker's or an observer's key
  std::string ventilator_key;  // the ventilator's public key, with curve
  bool json = false;
  /// How long to wait for each answer before giving up (exit 3).
  std::chrono::milliseconds timeout{5000};
  /// Ask again this often; nullopt asks once.
  std::optional<std::chrono::milliseconds> watch;
  /// With watch: stop after this many snapshots; 0 runs until interrupted.
  std::uint64_t iterations = 0;
};

/// Parses zpipe-status's command line. Throws usage_error.
[[nodiscard]] StatusConfig parse_status_options(int argc, const char* const* argv);

/// Prints the ventilator's status on stdout. Returns exit_ok, or
/// exit_runtime when the ventilator refused the key or did not answer in
/// time (the reason is logged).
int run_status(const StatusConfig& config);

}  // namespace zpipe
