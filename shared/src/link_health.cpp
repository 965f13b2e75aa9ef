// See link_health.hpp.
#include "zpipe/link_health.hpp"

#include <utility>

namespace zpipe {

LinkHealth::LinkHealth(std::string label)
    : label_(std::move(label)),
      failures_("connection on the " + label_),
      disconnect_lines_("connection on the " + label_, 10, "lost") {}

std::uint32_t LinkHealth::take_new_handshakes() { return std::exchange(new_handshakes_, 0); }

bool LinkHealth::given_up(Clock::time_point now) const { return dropped_at_ && now - *dropped_at_ >= reconnect_grace; }

void LinkHealth::connecting_again() {
  up_ = false;
  dropped_at_.reset();
}

void LinkHealth::record(const zmq_event_t& event, const char* address, Clock::time_point now) {
  const std::string from(address);
  switch (event.event) {
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
      ++handshakes_;
      ++new_handshakes_;
      up_ = true;
      dropped_at_.reset();
      drops_since_handshake_ = 0;
      silent_failures_ = 0;
      break;
    // libzmq is trying the endpoint again: the reconnect timer started, or a
    // new connection is under way.
    case ZMQ_EVENT_CONNECT_RETRIED:
    case ZMQ_EVENT_CONNECT_DELAYED:
    case ZMQ_EVENT_CONNECTED: dropped_at_.reset(); break;
    case ZMQ_EVENT_DISCONNECTED: disconnected(address, now); break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: {
      std::string why = "handshake with " + from + " failed: ";
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
      break;
    }
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      failed("peer " + from + " refused authentication (ZAP status " + std::to_string(event.value) +
             "): is this program's public key in the server's allow-list (--allow-workers, or the sink's --allow-ventilators)?");
      break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      // libzmq says this of a CURVE server that would not read our hello,
      // and also of a handshake that timed out or was cut short: a peer too
      // busy to answer in time, such as a ventilator taking thousands of
      // connections at once. Keys that completed a handshake on this link
      // are right; before one has, only a failure on every try means wrong keys.
      if (handshakes_ == 0 && ++silent_failures_ >= silent_failures_for_wrong_keys)
        failed("handshake with " + from + " failed without a reason from the peer, " +
               std::to_string(silent_failures_) + " times: most likely this program has the wrong public key for it");
      else
        disconnect_lines_.reject("handshake with " + from + " failed without a reason (timed out or cut short)");
      break;
    default: break;
  }
}

// A CURVE server that cannot decrypt a client's hello (the client has the
// wrong server key) closes the connection without a word; a peer that is
// merely not up refuses connections instead. So connections dropped again
// and again before any handshake mean wrong keys.
void LinkHealth::disconnected(const char* address, Clock::time_point now) {
  ++disconnects_;
  up_ = false;
  dropped_at_ = now;
  disconnect_lines_.reject(address);
  if (++drops_since_handshake_ >= 3 && handshakes_ == 0)
    failed("the peer at " + std::string(address) +
           " closes every connection during the handshake: most likely this program has the wrong public key for it");
}

void LinkHealth::failed(const std::string& why) {
  handshake_failure_ = why;
  failures_.reject(why);
}

}  // namespace zpipe
