// What a socket's connection events say about its link: how many ZMTP
// handshakes succeeded, how many connections dropped, and why a handshake
// failed. Fed by whichever class reads the socket's monitor (libzmq allows
// one monitor per socket): ConnectionMonitor or PeerConnections.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "zpipe/log.hpp"

namespace zpipe {

class LinkHealth {
 public:
  /// `label` names the link in log lines.
  explicit LinkHealth(std::string label);

  /// Takes one monitor event; events it has no use for are ignored.
  void record(const zmq_event_t& event, const char* address);

  /// The events record() needs, for zmq_socket_monitor.
  static constexpr int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;

  /// Returns the number of handshakes that succeeded since the last call.
  std::uint32_t take_new_handshakes();

  [[nodiscard]] std::uint64_t handshakes() const { return handshakes_; }
  [[nodiscard]] std::uint64_t disconnects() const { return disconnects_; }
  /// Why the last handshake failed (authentication refused, wrong keys or
  /// mechanism), if one did: what a client cannot recover from by waiting.
  [[nodiscard]] const std::optional<std::string>& handshake_failure() const { return handshake_failure_; }

 private:
  void disconnected(const char* address);
  void failed(const std::string& why);

  std::string label_;
  std::uint64_t handshakes_ = 0;
  std::uint64_t disconnects_ = 0;
  std::uint32_t new_handshakes_ = 0;
  std::uint32_t drops_since_handshake_ = 0;
  // Handshakes that failed without a reason before any succeeded.
  static constexpr std::uint32_t silent_failures_for_wrong_keys = 3;
  std::uint32_t silent_failures_ = 0;
  std::optional<std::string> handshake_failure_;
  RejectionLog failures_;
  RejectionLog disconnect_lines_;
};

}  // namespace zpipe
