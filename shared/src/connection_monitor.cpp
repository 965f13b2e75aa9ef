// See connection_monitor.hpp.
#include "zpipe/connection_monitor.hpp"

#include <atomic>

#include "zpipe/log.hpp"

namespace zpipe {
namespace {
std::string unique_monitor_endpoint() {
  static std::atomic<std::uint64_t> next{0};
  return "inproc://zpipe-monitor-" + std::to_string(next++);
}
}  // namespace

ConnectionMonitor::ConnectionMonitor(zmq::socket_t& socket, std::string label)
    : label_(std::move(label)),
      failures_("connection on the " + label_),
      disconnect_lines_("connection on the " + label_, 10, "lost") {
  init(socket, unique_monitor_endpoint(),
       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
}

void ConnectionMonitor::failed(const std::string& why) {
  handshake_failure_ = why;
  failures_.reject(why);
}

std::uint32_t ConnectionMonitor::poll_handshakes() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_look_) return 0;
  next_look_ = now + std::chrono::milliseconds(5);
  while (check_event(0)) {
  }
  const std::uint32_t count = new_handshakes_;
  new_handshakes_ = 0;
  return count;
}

void ConnectionMonitor::on_event_handshake_succeeded(const zmq_event_t&, const char*) {
  ++handshakes_;
  ++new_handshakes_;
  drops_since_handshake_ = 0;
}

// A CURVE server that cannot decrypt a client's hello (the client has the
// wrong server key) closes the connection without a word; a peer that is
// merely not up refuses connections instead. So connections dropped again
// and again before any handshake mean wrong keys.
void ConnectionMonitor::on_event_disconnected(const zmq_event_t&, const char* address) {
  ++disconnects_;
  disconnect_lines_.reject(address);
  if (++drops_since_handshake_ >= 3 && handshakes_ == 0)
    failed("the peer at " + std::string(address) +
           " closes every connection during the handshake: most likely this program has the wrong public key for it");
}

void ConnectionMonitor::on_event_handshake_failed_protocol(const zmq_event_t& event, const char* address) {
  std::string why = "handshake with " + std::string(address) + " failed: ";
  switch (event.value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      why += "one side uses CURVE keys and the other does not (check --curve-secret on both)";
      break;
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      why += "CURVE keys do not match (is the server's public key file the right one?)";
      break;
    default: why += "ZMTP protocol error " + std::to_string(event.value) + " (is the peer a zpipe program?)";
  }
  failed(why);
}

void ConnectionMonitor::on_event_handshake_failed_auth(const zmq_event_t& event, const char* address) {
  failed("peer " + std::string(address) + " refused authentication (ZAP status " + std::to_string(event.value) +
         "): is this program's public key in the server's --allow-keys directory?");
}

void ConnectionMonitor::on_event_handshake_failed_no_detail(const zmq_event_t&, const char* address) {
  failed("handshake with " + std::string(address) +
         " failed without a reason from the peer: most likely this program has the wrong public key for it");
}

}  // namespace zpipe
