// Watches a socket's connection events (ZMTP handshakes, disconnects,
// authentication failures, reconnect attempts) so that a program can react
// to a peer that has really become reachable, not merely TCP-connected
// (libzmq#4736), and to a link that libzmq gave up on. What the events mean
// is LinkHealth's job; this class only reads them, and connect_again()
// below mends such a link. For a ROUTER that must also know which peers
// lost their connection, use PeerConnections instead (libzmq allows one
// monitor per socket).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "zpipe/link_health.hpp"
#include "zpipe/log.hpp"

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

  /// Returns true when libzmq gave up on the link: its connection dropped
  /// and libzmq will not connect again by itself (see LinkHealth::given_up).
  /// reconnect_if_given_up() mends it. Reads the waiting events first when
  /// the answer would be yes, so that a retry not yet read is not missed.
  [[nodiscard]] bool given_up();

  /// The caller disconnected the endpoint and connected it again (see connect_again()).
  void connecting_again() { health_.connecting_again(); }

  /// Whether the link's last connection finished its handshake and has not dropped.
  [[nodiscard]] bool up() const { return health_.up(); }
  [[nodiscard]] std::uint64_t handshakes() const { return health_.handshakes(); }
  [[nodiscard]] std::uint64_t disconnects() const { return health_.disconnects(); }
  /// Why the last handshake failed (authentication refused, wrong keys or
  /// mechanism), if one did: what a client cannot recover from by waiting.
  [[nodiscard]] const std::optional<std::string>& handshake_failure() const { return health_.handshake_failure(); }

 private:
  void read_events(std::chrono::steady_clock::time_point now);

  void on_event_handshake_succeeded(const zmq_event_t& event, const char* address) override;
  void on_event_connected(const zmq_event_t& event, const char* address) override;
  void on_event_connect_delayed(const zmq_event_t& event, const char* address) override;
  void on_event_connect_retried(const zmq_event_t& event, const char* address) override;
  void on_event_disconnected(const zmq_event_t& event, const char* address) override;
  void on_event_handshake_failed_protocol(const zmq_event_t& event, const char* address) override;
  void on_event_handshake_failed_auth(const zmq_event_t& event, const char* address) override;
  void on_event_handshake_failed_no_detail(const zmq_event_t& event, const char* address) override;

  LinkHealth health_;
  std::chrono::steady_clock::time_point next_look_{};
  std::chrono::steady_clock::time_point read_at_{};  // when the events being handled were read
};

/// Disconnects `endpoint` from `socket` and connects it again, and tells
/// `link` (the socket's monitor): what mends a link libzmq gave up on, or
/// one that connected to its own socket. Messages queued on the old
/// connection are dropped. Throws std::runtime_error as connect_endpoint(),
/// or zmq::error_t when libzmq refuses the disconnect.
void connect_again(zmq::socket_t& socket, ConnectionMonitor& link, const std::string& endpoint,
                   std::string_view option);

/// When libzmq gave up on `link`, the monitor of `socket` (see
/// ConnectionMonitor::given_up), says so through `reconnects` and connects
/// `endpoint` again. Throws as connect_again().
void reconnect_if_given_up(zmq::socket_t& socket, ConnectionMonitor& link, const std::string& endpoint,
                           std::string_view option, RejectionLog& reconnects);

}  // namespace zpipe
