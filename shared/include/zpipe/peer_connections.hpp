// Which peers of a ROUTER lost their connection, noticed within milliseconds
// of the TCP close instead of after a silence timeout. libzmq tells a ROUTER
// nothing about peers leaving (ZMQ_ROUTER_NOTIFY is a draft API that
// Debian's libzmq lacks), but a received message carries the descriptor of
// its connection (ZMQ_SRCFD) and the socket monitor reports each descriptor
// accepted and disconnected. This class joins the two. Being the socket's
// one monitor, it also feeds the link's LinkHealth (handshake failures).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "zpipe/link_health.hpp"

namespace zpipe {

/// Tells which ROUTER peers (by routing id) lost their connection.
class PeerConnections {
 public:
  /// Starts monitoring `router` on a unique inproc endpoint of `context`
  /// (which must be the router's). `label` names the link in log lines.
  /// Throws zmq::error_t when the monitor cannot start.
  PeerConnections(zmq::context_t& context, zmq::socket_t& router, std::string label = "router socket");
  /// Stops the monitor: destroy this before the router is closed.
  ~PeerConnections();
  PeerConnections(const PeerConnections&) = delete;
  PeerConnections& operator=(const PeerConnections&) = delete;

  /// Call with the routing id and the body message of each frame received
  /// from the router: records which connection the peer uses. O(1): a string
  /// compare when the peer's connection is already known; else it reads the
  /// waiting monitor events first (see the .cpp on ordering).
  void seen(std::string_view routing_id, const zmq::message_t& body);

  /// The monitor socket, to put in the caller's poll items (ZMQ_POLLIN) so
  /// that a disconnect wakes the loop at once.
  [[nodiscard]] zmq::socket_ref monitor_socket() { return events_; }

  /// Handles the waiting monitor events without blocking (one non-blocking
  /// receive, a system call, when none waits). Returns the routing ids whose
  /// connection closed since the last call, each once, and forgets them. (A
  /// message its closed connection had sent, seen() afterwards, reports the
  /// id again: whatever that message did is to be undone too.)
  [[nodiscard]] std::vector<std::string> take_gone();

  /// Whether take_gone() has ids to return without reading more events
  /// (seen() reads events too): poll readiness of monitor_socket() or this
  /// says when take_gone() is worth its system call.
  [[nodiscard]] bool any_gone() const { return !gone_.empty(); }

  /// Forgets a peer (the caller dropped it); it is not reported gone.
  void forget(std::string_view routing_id);

  /// Peers whose connection is known: bounded by the open connections.
  [[nodiscard]] std::size_t size() const { return fd_of_peer_.size(); }

  [[nodiscard]] const LinkHealth& health() const { return health_; }

 private:
  enum class FdState : unsigned char { unknown, open, closed };
  struct Connection {
    FdState state = FdState::unknown;
    std::string peer;  // empty until a message from it was seen
  };

  void read_events();
  void opened(int fd);
  void closed(int fd);
  void record(std::string_view routing_id, int fd);
  void report_peer_of(Connection& connection);
  Connection& connection(int fd);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
  };

  zmq::socket_ref router_;
  zmq::socket_t events_;
  LinkHealth health_;
  std::vector<Connection> by_fd_;  // indexed by file descriptor
  std::unordered_map<std::string, int, Hash, std::equal_to<>> fd_of_peer_;
  std::vector<std::string> gone_;
  zmq::message_t event_;
  zmq::message_t address_;
};

}  // namespace zpipe
