// A deterministic simulation of one job: the real VentilatorCore, SinkCore
// and WorkerCores, on a simulated network, disk and set of processes, driven
// by one seed. Faults (kill -9 and restart, link cuts, whole hosts cut off,
// hung workers, slow disks, crashes between a journal write and its sync,
// duplicated frames, poison tasks, flaky tasks under --retries, late joiners) are injected until a
// random moment; invariants are checked after every step, and once the
// faults stop the job must end within a bounded simulated time.
//
// The network follows ZeroMQ's guarantees and nothing more: order is kept
// per connection; a connection that breaks loses what was on its way; a
// DEALER keeps what it sends while it is disconnected and delivers it on the
// next connection, under a new routing id; a ROUTER cannot send to a peer
// whose connection is gone. A cut shorter than the heartbeat timeout only
// delays frames (TCP retransmits); a longer one breaks the connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace zpipe::sim {

struct Outcome {
  bool passed = true;
  std::string failure;     // the invariant broken, with when and where
  std::string trace;       // the last steps before the failure
  std::uint64_t steps = 0;
  double simulated_seconds = 0;
  std::string scenario;    // what the seed chose: job, workers, faults
};

struct Options {
  std::uint64_t seed = 1;
  bool trace = false;  // keep and return the last steps even when it passes
};

/// Runs one seed to its end. Never throws: an exception from the code
/// under test is a failure of the seed.
[[nodiscard]] Outcome simulate(const Options& options);

}  // namespace zpipe::sim
