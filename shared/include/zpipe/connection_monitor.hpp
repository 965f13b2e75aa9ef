// Watches a socket's connection events (ZMTP handshakes, disconnects,
// authentication failures) so that a program can react to a peer that has
// really become reachable, not merely TCP-connected (libzmq#4736). What the
// events mean is LinkHealth's job; this class only reads them. For a ROUTER
// that must also know which peers lost their connection, use PeerConnections
// instead (libzmq allows one monitor per socket).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "zpipe/link_health.hpp"

namespace zpipe {

class ConnectionMonitor : private zmq::monitor_t {
 public:
  /// Starts monitoring `socket`; `label` names the link in log lines.
  ConnectionMonitor(zmq::socket_t& socket, std::string label);

  /// Handles every event that is waiting, without blocking, at most every
  /// few milliseconds (each look is a system call, and busy loops call this
  /// often). Returns the number of handshakes that succeeded since the last
  /// look.
  std::uint32_t poll_handshakes();

  [[nodiscard]] std::uint64_t handshakes() const { return health_.handshakes(); }
  [[nodiscard]] std::uint64_t disconnects() const { return health_.disconnects(); }
  /// Why the last handshake failed (authentication refused, wrong keys or
  /// mechanism), if one did: what a client cannot recover from by waiting.
  [[nodiscard]] const std::optional<std::string>& handshake_failure() const { return health_.handshake_failure(); }

 private:
  void on_event_handshake_succeeded(const zmq_event_t& event, const char* address) override;
  void on_event_disconnected(const zmq_event_t& event, const char* address) override;
  void on_event_handshake_failed_protocol(const zmq_event_t& event, const char* address) override;
  void on_event_handshake_failed_auth(const zmq_event_t& event, const char* address) override;
  void on_event_handshake_failed_no_detail(const zmq_event_t& event, const char* address) override;

  LinkHealth health_;
  std::chrono::steady_clock::time_point next_look_{};
};

}  // namespace zpipe
