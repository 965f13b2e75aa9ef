// Socket setup every program uses: the same limits and liveness settings on
// every socket, binds and connects with errors that say what to do, and
// non-blocking receives that return every part of a message.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

namespace zpipe {

struct SocketSettings {
  /// How long close() may wait to deliver what is queued: bounded so that no
  /// program hangs at exit on a peer that is gone.
  std::chrono::milliseconds linger{2000};
  int send_high_water_mark = 1000;
  int receive_high_water_mark = 1000;
  /// ZMQ_MAXMSGSIZE: libzmq drops a peer that sends a larger message before
  /// any of it is buffered. Matches DecodeLimits::max_frame_bytes.
  std::int64_t max_message_bytes = 16 * 1024 * 1024;
  /// ZMQ_HANDSHAKE_IVL: a connection that has not finished its handshake by
  /// then is closed, so half-open connections cannot pile up descriptors.
  std::chrono::milliseconds handshake_timeout{5000};
  /// ZMTP heartbeats: a silent peer is noticed in seconds, not TCP's minutes.
  /// An interval of 0 sends none (see server_settings).
  std::chrono::milliseconds heartbeat_interval{1000};
  std::chrono::milliseconds heartbeat_timeout{5000};
  /// ZMQ_HEARTBEAT_TTL: how long the peer waits for traffic from us before
  /// it closes the connection; 0 asks nothing of the peer (client_settings).
  std::chrono::milliseconds heartbeat_ttl{5000};
  /// TCP keepalive (kernel timers, idle 30 s, then 3 probes 5 s apart): a
  /// connection to a host that vanished is closed within a minute.
  bool tcp_keepalive = false;
};

/// The settings of the task link (ventilator ROUTER, worker DEALER): queues
/// deeper than any credit window, so a granted frame is never refused.
[[nodiscard]] SocketSettings task_link_settings();

/// `base` for a socket that thousands of peers connect to (the ventilator's
/// for workers, the sink's): no ZMTP heartbeats of its own, TCP keepalive
/// instead. libzmq 4.3 cancels a heartbeat timer by scanning every timer of
/// its I/O thread, and it cancels one per message on a connection that has
/// one; with 10,000 workers that scan took the ventilator's I/O thread whole,
/// handshakes timed out and connections churned. The programs' own
/// keepalives tell whether a worker is still there (--worker-timeout).
[[nodiscard]] SocketSettings server_settings(SocketSettings base = {});

/// `base` for a worker's connections to those servers: heartbeats of its own
/// (it notices a server that is gone), but no TTL asked of the server, which
/// would give the server a timer per worker again.
[[nodiscard]] SocketSettings client_settings(SocketSettings base = {});

/// Raises the soft limit on open descriptors to the hard limit, so that a
/// server holds as many connections as the system allows (1,024, a common
/// soft default, is easy to exhaust with half-open connections). Returns the
/// limit now in force.
std::uint64_t raise_descriptor_limit();

/// Returns a socket of `type` with `settings` applied.
[[nodiscard]] zmq::socket_t open_socket(zmq::context_t& context, zmq::socket_type type,
                                        const SocketSettings& settings = {});

/// Binds and returns the endpoint actually bound (a "*" port resolved).
/// Throws std::runtime_error naming the endpoint and the likely fix.
std::string bind_endpoint(zmq::socket_t& socket, const std::string& endpoint, std::string_view option);

/// Connects; libzmq keeps retrying in the background until the peer is up.
void connect_endpoint(zmq::socket_t& socket, const std::string& endpoint, std::string_view option);

/// Throws usage_error unless `endpoint` is tcp://, ipc:// or inproc://.
void check_endpoint(const std::string& endpoint, std::string_view option);

/// Waits for events. Returns false when a signal interrupted the wait.
bool poll_sockets(std::span<zmq::pollitem_t> items, std::chrono::milliseconds timeout);

/// Receives every part of one message without blocking into `parts`.
/// Returns the number of parts, 0 when nothing was waiting.
std::size_t receive_parts(zmq::socket_t& socket, std::vector<zmq::message_t>& parts);

/// Sends one single-frame message. With `wait` false, returns false instead
/// of blocking when the socket's queue is full.
bool send_frame(zmq::socket_t& socket, std::string_view frame, bool wait = true);

/// Sends `frame` through a ROUTER to the peer with routing id `peer`.
/// Returns false when the peer is gone or its queue is full.
bool send_to(zmq::socket_t& router, std::string_view peer, std::string_view frame);

/// As send_frame() and send_to(), without copying a large frame: libzmq
/// takes the string's buffer and frees it once sent, and `frame` is left
/// empty. A small frame is copied (cheaper than handing over a buffer) and
/// `frame` kept. When the frame is not sent, `frame` is as it was.
bool send_frame_taking(zmq::socket_t& socket, std::string& frame, bool wait = true);
bool send_to_taking(zmq::socket_t& router, std::string_view peer, std::string& frame);

[[nodiscard]] inline std::string_view view(const zmq::message_t& message) {
  return {static_cast<const char*>(message.data()), message.size()};
}

}  // namespace zpipe
