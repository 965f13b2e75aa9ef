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

ConnectionMonitor::ConnectionMonitor(zmq::socket_t& socket, std::string label) : label_(std::move(label)) {
  init(socket, unique_monitor_endpoint(),
       ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
}

std::uint32_t ConnectionMonitor::poll_handshakes() {
  while (check_event(0)) {
  }
  const std::uint32_t count = new_handshakes_;
  new_handshakes_ = 0;
  return count;
}

void ConnectionMonitor::on_event_handshake_succeeded(const zmq_event_t&, const char*) {
  ++handshakes_;
  ++new_handshakes_;
}

void ConnectionMonitor::on_event_disconnected(const zmq_event_t&, const char* address) {
  ++disconnects_;
  log_line(label_ + ": lost connection " + address);
}

void ConnectionMonitor::on_event_handshake_failed_protocol(const zmq_event_t& event, const char* address) {
  log_line(label_ + ": ZMTP handshake with " + address + " failed (protocol error " + std::to_string(event.value) +
           "): is that peer a zpipe program of a matching version?");
}

void ConnectionMonitor::on_event_handshake_failed_auth(const zmq_event_t& event, const char* address) {
  log_line(label_ + ": peer " + address + " failed authentication (status " + std::to_string(event.value) + ")");
}

}  // namespace zpipe
