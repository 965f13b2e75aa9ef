// The one receive loop of every program: takes every message waiting on a
// socket without blocking, checks its shape, decodes it and hands it on. A
// frame that is not a valid message, or that the handler refuses by
// throwing codec_error, is counted and logged (rate-limited) and dropped:
// bad input from the network never ends a program.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <zmq.hpp>

#include "zpipe/codec.hpp"
#include "zpipe/log.hpp"
#include "zpipe/metrics_file.hpp"
#include "zpipe/sockets.hpp"

namespace zpipe {

class FrameReceiver {
 public:
  /// `what` names the sender in rejection lines ("message from a worker").
  explicit FrameReceiver(std::string what) : rejections_(std::move(what)) {}

  /// From a DEALER: one-frame messages. Calls handle(frame, message).
  template <class Handle>
  void receive(zmq::socket_t& socket, Handle handle) {
    receive(socket, handle, [](zmq::message_t&) { return false; });
  }

  /// As above; `take_raw(message)` sees each frame first and returns true
  /// when it took the frame as it is, undecoded (the worker's task frames).
  template <class Handle, class TakeRaw>
  void receive(zmq::socket_t& socket, Handle handle, TakeRaw take_raw) {
    while (const std::size_t count = receive_parts(socket, parts_)) {
      Stage stage = Stage::framing;
      try {
        if (count != 1) throw codec_error("expected 1 frame, got " + std::to_string(count));
        if (take_raw(parts_[0])) continue;
        const std::string_view frame = view(parts_[0]);
        stage = Stage::decoding;
        decode_into(frame, message_);
        stage = Stage::handling;
        handle(frame, std::as_const(message_));
      } catch (const codec_error& e) {
        reject(stage, e.what());
      }
    }
  }

  /// From a ROUTER: [routing id, frame]. Calls handle(peer, frame, message).
  template <class Handle>
  void receive_routed(zmq::socket_t& socket, Handle handle) {
    receive_routed(socket, handle, [] { return true; });
  }

  /// As above, while more() says so (it is asked before each message): a
  /// caller that has other work due bounds how long one pass takes. Returns
  /// true when no message is left waiting.
  template <class Handle, class More>
  bool receive_routed(zmq::socket_t& socket, Handle handle, More more) {
    while (more()) {
      const std::size_t count = receive_parts(socket, parts_);
      if (count == 0) return true;
      Stage stage = Stage::framing;
      try {
        if (count != 2) throw codec_error("expected 1 frame, got " + std::to_string(count - 1));
        peer_.assign(view(parts_[0]));
        const std::string_view frame = view(parts_[1]);
        stage = Stage::decoding;
        decode_into(frame, message_);
        stage = Stage::handling;
        handle(peer_, frame, std::as_const(message_));
      } catch (const codec_error& e) {
        reject(stage, e.what());
      }
    }
    return (socket.get(zmq::sockopt::events) & ZMQ_POLLIN) == 0;
  }

  /// Rejections by reason, for --metrics-file.
  struct Rejected {
    std::uint64_t framing = 0;     // not one frame (or routing id and one frame)
    std::uint64_t malformed = 0;   // not a valid message (PROTOCOL.md)
    std::uint64_t unexpected = 0;  // valid, but not one this peer may send now
    std::uint64_t other = 0;       // found outside the loop
  };

  /// Counts a rejection found outside the loop.
  void reject(std::string_view reason) {
    ++by_reason_.other;
    rejections_.reject(reason);
  }
  [[nodiscard]] std::uint64_t rejected() const { return rejections_.count(); }
  [[nodiscard]] const Rejected& rejected_by_reason() const { return by_reason_; }
  /// The parts of the message being handled (the body of a routed one is [1]).
  [[nodiscard]] std::vector<zmq::message_t>& parts() { return parts_; }

 private:
  enum class Stage { framing, decoding, handling };
  void reject(Stage stage, std::string_view reason) {
    ++(stage == Stage::framing ? by_reason_.framing : stage == Stage::decoding ? by_reason_.malformed : by_reason_.unexpected);
    rejections_.reject(reason);
  }

  std::vector<zmq::message_t> parts_;
  std::string peer_;
  Message message_;  // decoded into frame after frame, its vectors reused
  RejectionLog rejections_;
  Rejected by_reason_;
};

/// Adds one sample per reason to the counter family last started in `text`,
/// labelled from="FROM" when `from` is not empty.
inline void add_rejection_samples(PrometheusText& text, std::string_view from, const FrameReceiver::Rejected& rejected) {
  const std::pair<std::string_view, std::uint64_t> reasons[] = {
      {"framing", rejected.framing}, {"malformed", rejected.malformed},
      {"unexpected", rejected.unexpected}, {"other", rejected.other}};
  for (const auto& [reason, count] : reasons) {
    if (from.empty()) text.sample(count, {{"reason", reason}});
    else text.sample(count, {{"from", from}, {"reason", reason}});
  }
}

}  // namespace zpipe
