// See peer_connections.hpp.
//
// Ordering. libzmq emits ACCEPTED(fd) when it accepts a connection, before
// that connection's engine can push a message, and DISCONNECTED(fd) before it
// closes fd, so before the kernel can give the number to a new connection.
// Every event passes through the one monitor pipe, in that order. So once a
// message from descriptor F has been received, the ACCEPTED of its
// connection, and the DISCONNECTED of any earlier connection on F, are
// already waiting in the monitor pipe. seen() therefore reads the waiting
// events before it records a new (peer, F) pair: an earlier peer on F is
// reported gone, F is open again, the new peer is recorded, and the next
// DISCONNECTED(F) is the new peer's.
//
// The window that remains: what a connection received before it closed stays
// readable after its DISCONNECTED (the router delivers a pipe to its end),
// fair-queued with other peers' messages.
//  - F closed and not reused: the late message's peer is reported gone
//    (again). Certain: no open connection uses F.
//  - F reused already: the late message's peer and the new peer both claim
//    F. The later claimant keeps F and the other is reported gone. The late
//    message usually comes first (it was queued before the new connection
//    finished its handshake), and the new peer keeps F; when the new peer's
//    first message is read before the late one, the new peer is wrongly
//    reported gone. Harmless in zpipe: it is told hello_again on its next
//    message and introduces itself again, and that message takes F back and
//    reports the dead peer.
// With several I/O threads the listener and a connection's engine may run on
// different threads, so in theory a first message could be read before its
// ACCEPTED is emitted: F looks closed and the peer is wrongly reported gone
// once; its next message finds F open. (zpipe's contexts have one I/O thread.)
// A descriptor libzmq closes without DISCONNECTED (a duplicate routing id it
// refuses) is caught by the next ACCEPTED of the same number: its holder is
// reported gone, as fd reuse proves its connection closed.
#include "zpipe/peer_connections.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "monitor_endpoint.hpp"

namespace zpipe {

PeerConnections::PeerConnections(zmq::context_t& context, zmq::socket_t& router, std::string label)
    : router_(router), events_(context, zmq::socket_type::pair), health_(std::move(label)) {
  const std::string endpoint = unique_monitor_endpoint();
  // cppzmq wraps zmq_socket_monitor only inside monitor_t, whose own socket
  // a caller cannot poll.
  if (zmq_socket_monitor(router.handle(), endpoint.c_str(),
                         LinkHealth::events | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CONNECTED) != 0)
    throw zmq::error_t();
  // No event may be dropped: a lost ACCEPTED would leave its descriptor
  // looking closed. The queue grows only while the caller does not read.
  events_.set(zmq::sockopt::rcvhwm, 0);
  events_.set(zmq::sockopt::linger, 0);
  events_.connect(endpoint);
}

PeerConnections::~PeerConnections() { zmq_socket_monitor(router_.handle(), nullptr, 0); }

void PeerConnections::seen(std::string_view routing_id, const zmq::message_t& body) {
  // cppzmq's message_t::get is not const; zmq_msg_get is.
  const int fd = zmq_msg_get(body.handle(), ZMQ_SRCFD);
  if (fd < 0 || routing_id.empty()) return;  // not a socket connection (inproc)
  if (static_cast<std::size_t>(fd) < by_fd_.size() && by_fd_[fd].peer == routing_id) return;
  record(routing_id, fd);
}

std::vector<std::string> PeerConnections::take_gone() {
  read_events();
  std::sort(gone_.begin(), gone_.end());
  gone_.erase(std::unique(gone_.begin(), gone_.end()), gone_.end());
  return std::exchange(gone_, {});
}

void PeerConnections::forget(std::string_view routing_id) {
  if (const auto it = fd_of_peer_.find(routing_id); it != fd_of_peer_.end()) {
    by_fd_[it->second].peer.clear();
    fd_of_peer_.erase(it);
  }
  std::erase(gone_, routing_id);
}

void PeerConnections::record(std::string_view routing_id, int fd) {
  // The peer speaks on a new connection: its old one no longer stands for it.
  if (const auto it = fd_of_peer_.find(routing_id); it != fd_of_peer_.end()) {
    by_fd_[it->second].peer.clear();
    fd_of_peer_.erase(it);
  }
  read_events();
  Connection& on = connection(fd);
  if (on.state == FdState::closed) {
    gone_.emplace_back(routing_id);  // a late message of a closed connection
    return;
  }
  report_peer_of(on);  // two claims on one connection: the later wins (see the top)
  on.peer.assign(routing_id);
  fd_of_peer_.emplace(on.peer, fd);
}

void PeerConnections::read_events() {
  while (events_.recv(event_, zmq::recv_flags::dontwait)) {
    // Two frames: the event (uint16 id, uint32 value), then the endpoint.
    if (!event_.more() || !events_.recv(address_, zmq::recv_flags::dontwait) || event_.size() != 6) continue;
    zmq_event_t event{};
    std::memcpy(&event.event, event_.data(), sizeof event.event);
    std::memcpy(&event.value, static_cast<const char*>(event_.data()) + sizeof event.event, sizeof event.value);
    switch (event.event) {
      case ZMQ_EVENT_ACCEPTED:
      case ZMQ_EVENT_CONNECTED: opened(event.value); break;
      case ZMQ_EVENT_DISCONNECTED: closed(event.value); break;
      default: break;
    }
    health_.record(event, address_.to_string().c_str(), LinkHealth::Clock::now());
  }
}

void PeerConnections::opened(int fd) {
  if (fd < 0) return;
  Connection& on = connection(fd);
  report_peer_of(on);  // the number is reused, so its last connection closed
  on.state = FdState::open;
}

void PeerConnections::closed(int fd) {
  if (fd < 0) return;
  Connection& on = connection(fd);
  report_peer_of(on);
  on.state = FdState::closed;
}

void PeerConnections::report_peer_of(Connection& connection) {
  if (connection.peer.empty()) return;
  fd_of_peer_.erase(connection.peer);
  gone_.push_back(std::move(connection.peer));
  connection.peer.clear();
}

PeerConnections::Connection& PeerConnections::connection(int fd) {
  if (static_cast<std::size_t>(fd) >= by_fd_.size()) by_fd_.resize(static_cast<std::size_t>(fd) + 1);
  return by_fd_[fd];
}

}  // namespace zpipe
