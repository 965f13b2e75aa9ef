// See connection_monitor.hpp.
#include "zpipe/connection_monitor.hpp"

#include "monitor_endpoint.hpp"

namespace zpipe {

ConnectionMonitor::ConnectionMonitor(zmq::socket_t& socket, std::string label) : health_(std::move(label)) {
  init(socket, unique_monitor_endpoint(), LinkHealth::events);
}

std::uint32_t ConnectionMonitor::poll_handshakes() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_look_) return 0;
  next_look_ = now + std::chrono::milliseconds(5);
  while (check_event(0)) {
  }
  return health_.take_new_handshakes();
}

void ConnectionMonitor::on_event_handshake_succeeded(const zmq_event_t& event, const char* address) {
  health_.record(event, address);
}
void ConnectionMonitor::on_event_disconnected(const zmq_event_t& event, const char* address) {
  health_.record(event, address);
}
void ConnectionMonitor::on_event_handshake_failed_protocol(const zmq_event_t& event, const char* address) {
  health_.record(event, address);
}
void ConnectionMonitor::on_event_handshake_failed_auth(const zmq_event_t& event, const char* address) {
  health_.record(event, address);
}
void ConnectionMonitor::on_event_handshake_failed_no_detail(const zmq_event_t& event, const char* address) {
  health_.record(event, address);
}

}  // namespace zpipe
