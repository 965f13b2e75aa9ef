// See sockets.hpp.
#include "zpipe/sockets.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "zpipe/exit_codes.hpp"
#include "zpipe/messages.hpp"

namespace zpipe {

SocketSettings task_link_settings() {
  SocketSettings settings;
  settings.send_high_water_mark = 2 * static_cast<int>(max_window_frames);
  settings.receive_high_water_mark = 2 * static_cast<int>(max_window_frames);
  return settings;
}

SocketSettings server_settings(SocketSettings base) {
  base.heartbeat_interval = std::chrono::milliseconds{0};
  base.tcp_keepalive = true;
  return base;
}

SocketSettings client_settings(SocketSettings base) {
  base.heartbeat_ttl = std::chrono::milliseconds{0};
  return base;
}

std::uint64_t raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    const rlim_t before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) return before;
  }
  return limit.rlim_cur;
}

zmq::socket_t open_socket(zmq::context_t& context, zmq::socket_type type, const SocketSettings& settings) {
  zmq::socket_t socket(context, type);
  socket.set(zmq::sockopt::linger, static_cast<int>(settings.linger.count()));
  socket.set(zmq::sockopt::sndhwm, settings.send_high_water_mark);
  socket.set(zmq::sockopt::rcvhwm, settings.receive_high_water_mark);
  socket.set(zmq::sockopt::maxmsgsize, settings.max_message_bytes);
  socket.set(zmq::sockopt::handshake_ivl, static_cast<int>(settings.handshake_timeout.count()));
  socket.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(settings.heartbeat_interval.count()));
  socket.set(zmq::sockopt::heartbeat_timeout, static_cast<int>(settings.heartbeat_timeout.count()));
  socket.set(zmq::sockopt::heartbeat_ttl, static_cast<int>(settings.heartbeat_ttl.count()));
  if (settings.tcp_keepalive) {
    socket.set(zmq::sockopt::tcp_keepalive, 1);
    socket.set(zmq::sockopt::tcp_keepalive_idle, 30);
    socket.set(zmq::sockopt::tcp_keepalive_intvl, 5);
    socket.set(zmq::sockopt::tcp_keepalive_cnt, 3);
  }
  if (type == zmq::socket_type::router) socket.set(zmq::sockopt::router_mandatory, true);
  return socket;
}

void check_endpoint(const std::string& endpoint, std::string_view option) {
  for (const std::string_view scheme : {"tcp://", "ipc://", "inproc://"})
    if (endpoint.size() > scheme.size() && endpoint.compare(0, scheme.size(), scheme) == 0) return;
  throw usage_error("--" + std::string(option) + " '" + endpoint +
                    "' is not an endpoint; write tcp://HOST:PORT, ipc://PATH or inproc://NAME");
}

std::string bind_endpoint(zmq::socket_t& socket, const std::string& endpoint, std::string_view option) {
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    std::string advice = e.num() == EADDRINUSE ? "; another program holds it, choose another with --" + std::string(option)
                                               : "; check --" + std::string(option);
    throw std::runtime_error("cannot bind " + endpoint + ": " + e.what() + advice);
  }
  return socket.get(zmq::sockopt::last_endpoint);
}

void connect_endpoint(zmq::socket_t& socket, const std::string& endpoint, std::string_view option) {
  try {
    socket.connect(endpoint);
  } catch (const zmq::error_t& e) {
    throw std::runtime_error("cannot connect to " + endpoint + ": " + e.what() + "; check --" + std::string(option));
  }
}

bool poll_sockets(std::span<zmq::pollitem_t> items, std::chrono::milliseconds timeout) {
  try {
    zmq::poll(items.data(), items.size(), timeout);
    return true;
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return false;
    throw;
  }
}

std::size_t receive_parts(zmq::socket_t& socket, std::vector<zmq::message_t>& parts) {
  std::size_t count = 0;
  for (;;) {
    if (parts.size() <= count) parts.emplace_back();
    try {
      const auto received = socket.recv(parts[count], count == 0 ? zmq::recv_flags::dontwait : zmq::recv_flags::none);
      if (!received) return 0;
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR && count == 0) return 0;
      throw;
    }
    ++count;
    if (!parts[count - 1].more()) return count;
  }
}

bool send_frame(zmq::socket_t& socket, std::string_view frame, bool wait) {
  const auto sent = socket.send(zmq::const_buffer(frame.data(), frame.size()),
                                wait ? zmq::send_flags::none : zmq::send_flags::dontwait);
  return sent.has_value();
}

bool send_to(zmq::socket_t& router, std::string_view peer, std::string_view frame) {
  try {
    if (!router.send(zmq::const_buffer(peer.data(), peer.size()), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
      return false;
    router.send(zmq::const_buffer(frame.data(), frame.size()), zmq::send_flags::dontwait);
    return true;
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return false;  // the peer disconnected
    throw;
  }
}

namespace {

// From this size on a frame is handed to libzmq rather than copied: below
// it, a copy costs less than the allocation that carries the buffer over.
constexpr std::size_t zero_copy_from = 4096;

void free_taken_string(void*, void* owner) { delete static_cast<std::string*>(owner); }

// Sends a message made over `frame`'s buffer. libzmq frees it once sent;
// when the send fails, the buffer goes back to `frame` before the message
// (and with it the emptied owner) is closed.
template <class Send>
bool send_taking(std::string& frame, Send send) {
  auto* owner = new std::string(std::move(frame));
  frame.clear();
  zmq::message_t message(owner->data(), owner->size(), free_taken_string, owner);
  bool sent = false;
  try {
    sent = send(message);
  } catch (...) {
    frame.swap(*owner);
    throw;
  }
  if (!sent) frame.swap(*owner);
  return sent;
}

}  // namespace

bool send_frame_taking(zmq::socket_t& socket, std::string& frame, bool wait) {
  if (frame.size() < zero_copy_from) return send_frame(socket, frame, wait);
  return send_taking(frame, [&](zmq::message_t& message) {
    return socket.send(message, wait ? zmq::send_flags::none : zmq::send_flags::dontwait).has_value();
  });
}

bool send_to_taking(zmq::socket_t& router, std::string_view peer, std::string& frame) {
  if (frame.size() < zero_copy_from) return send_to(router, peer, frame);
  try {
    if (!router.send(zmq::const_buffer(peer.data(), peer.size()), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
      return false;
    // As in send_to(): once the routing id went, the message is the
    // ROUTER's to deliver or drop whole.
    return send_taking(frame, [&](zmq::message_t& message) {
      router.send(message, zmq::send_flags::dontwait);
      return true;
    });
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) return false;  // the peer disconnected
    throw;
  }
}

}  // namespace zpipe
