// What a socket's connection events say about its link: how many ZMTP
// handshakes succeeded, how many connections dropped, why a handshake
// failed, and whether libzmq gave up on the link. Fed by whichever class
// reads the socket's monitor (libzmq allows one monitor per socket):
// ConnectionMonitor or PeerConnections. No I/O: the time an event was read
// is passed in, so every ordering can be tested without waiting.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "zpipe/log.hpp"

namespace zpipe {

class LinkHealth {
 public:
  using Clock = std::chrono::steady_clock;

  /// How long libzmq has, after a connection drops, to show that it is
  /// connecting again before given_up() says it will not. libzmq starts its
  /// reconnect timer (ZMQ_EVENT_CONNECT_RETRIED) on its I/O thread within
  /// microseconds of the ZMQ_EVENT_DISCONNECTED, so a second covers a loaded
  /// machine many times over, and a link libzmq dropped for good is mended
  /// in about a second. It bounds no connect or handshake: once libzmq shows
  /// it is trying, a slow CURVE handshake with a busy server takes its time.
  static constexpr std::chrono::seconds reconnect_grace{1};

  /// `label` names the link in log lines.
  explicit LinkHealth(std::string label);

  /// Takes one monitor event, read at `now`; events it has no use for are ignored.
  void record(const zmq_event_t& event, const char* address, Clock::time_point now);

  /// The events record() needs, for zmq_socket_monitor.
  static constexpr int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_CONNECT_RETRIED |
                                ZMQ_EVENT_CONNECT_DELAYED | ZMQ_EVENT_CONNECTED;

  /// Returns the number of handshakes that succeeded since the last call.
  std::uint32_t take_new_handshakes();

  /// Returns true when the link's connection dropped and libzmq showed no
  /// sign of connecting again (a retry, a connect, a handshake) within
  /// reconnect_grace of `now`. libzmq 4.3 reconnects after a connection
  /// error or a timeout, but after a protocol error (a frame over
  /// ZMQ_MAXMSGSIZE, malformed ZMTP) it ends the endpoint's session and never
  /// tries it again (session_base_t::engine_error): only the program's own
  /// disconnect() and connect() bring the link back, and it then calls
  /// connecting_again(). Meaningful for a socket that connects; a bound
  /// socket's peers are theirs to reconnect.
  [[nodiscard]] bool given_up(Clock::time_point now) const;

  /// The program disconnected the endpoint and connected it again: the link
  /// is down until a handshake on the new connection, which libzmq is now
  /// trying. (libzmq reports no event for a disconnect() the program asks for.)
  void connecting_again();

  /// Whether the last connection finished its handshake and has not dropped.
  [[nodiscard]] bool up() const { return up_; }
  [[nodiscard]] std::uint64_t handshakes() const { return handshakes_; }
  /// Connections dropped, those that never finished a handshake included.
  [[nodiscard]] std::uint64_t disconnects() const { return disconnects_; }
  /// Why the last handshake failed (authentication refused, wrong keys or
  /// mechanism), if one did: what a client cannot recover from by waiting.
  [[nodiscard]] const std::optional<std::string>& handshake_failure() const { return handshake_failure_; }

 private:
  void disconnected(const char* address, Clock::time_point now);
  void failed(const std::string& why);

  std::string label_;
  std::uint64_t handshakes_ = 0;
  std::uint64_t disconnects_ = 0;
  std::uint32_t new_handshakes_ = 0;
  bool up_ = false;
  // When a connection dropped with no sign since that libzmq connects again.
  std::optional<Clock::time_point> dropped_at_;
  std::uint32_t drops_since_handshake_ = 0;
  // Handshakes that failed without a reason before any succeeded.
  static constexpr std::uint32_t silent_failures_for_wrong_keys = 3;
  std::uint32_t silent_failures_ = 0;
  std::optional<std::string> handshake_failure_;
  RejectionLog failures_;
  RejectionLog disconnect_lines_;
};

}  // namespace zpipe
