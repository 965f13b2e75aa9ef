// See connection_monitor.hpp.
#include "zpipe/connection_monitor.hpp"

#include <cerrno>

#include "monitor_endpoint.hpp"
#include "zpipe/sockets.hpp"

namespace zpipe {

ConnectionMonitor::ConnectionMonitor(zmq::socket_t& socket, std::string label) : health_(std::move(label)) {
  init(socket, unique_monitor_endpoint(), LinkHealth::events);
}

std::uint32_t ConnectionMonitor::poll_handshakes() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_look_) return 0;
  next_look_ = now + std::chrono::milliseconds(5);
  read_events(now);
  return health_.take_new_handshakes();
}

bool ConnectionMonitor::given_up() {
  if (!health_.given_up(std::chrono::steady_clock::now())) return false;
  // A retry may be waiting unread (poll_handshakes looks every few
  // milliseconds at most): judge on every event so far.
  read_events(std::chrono::steady_clock::now());
  return health_.given_up(read_at_);
}

void ConnectionMonitor::read_events(std::chrono::steady_clock::time_point now) {
  read_at_ = now;
  while (check_event(0)) {
  }
}

void ConnectionMonitor::on_event_handshake_succeeded(const zmq_event_t& event, const char* address) {
  health_.record(event, address, read_at_);
}
void ConnectionMonitor::on_event_connected(const zmq_event_t& event, const char* address) {
  health_.record(event, address, read_at_);
}
void ConnectionMonitor::on_event_connect_delayed(const zmq_event_t& event, const char* address) {
  health_.record(event, address, read_at_);
}
void ConnectionMonitor::on_event_connect_retried(const zmq_event_t& event, const char* address) {
  health_.record(event, address, read_at_);
}
void ConnectionMonitor::on_event_disconnected(const zmq_event_t& event, const char* address) {
  health_.record(event, address, read_at_);
}
void ConnectionMonitor::on_event_handshake_failed_protocol(const zmq_event_t& event, const char* address) {
  health_.record(event, address, read_at_);
}
void ConnectionMonitor::on_event_handshake_failed_auth(const zmq_event_t& event, const char* address) {
  health_.record(event, address, read_at_);
}
void ConnectionMonitor::on_event_handshake_failed_no_detail(const zmq_event_t& event, const char* address) {
  health_.record(event, address, read_at_);
}

void connect_again(zmq::socket_t& socket, ConnectionMonitor& link, const std::string& endpoint,
                   std::string_view option) {
  try {
    socket.disconnect(endpoint);
  } catch (const zmq::error_t& e) {
    // libzmq 4.3 keeps a dropped session's endpoint until disconnect(); one
    // that forgot it already has nothing to disconnect.
    if (e.num() != ENOENT) throw;
  }
  connect_endpoint(socket, endpoint, option);
  link.connecting_again();
}

void reconnect_if_given_up(zmq::socket_t& socket, ConnectionMonitor& link, const std::string& endpoint,
                           std::string_view option, RejectionLog& reconnects) {
  if (!link.given_up()) return;
  const auto limit_mib = socket.get(zmq::sockopt::maxmsgsize) >> 20;
  reconnects.reject("the connection to " + endpoint +
                    " dropped and libzmq gave it up, as it does after a protocol error (a frame over " +
                    std::to_string(limit_mib) + " MiB from the peer, malformed ZMTP); connecting again");
  connect_again(socket, link, endpoint, option);
}

}  // namespace zpipe
