// The one receive loop of every program: takes every message waiting on a
// socket without blocking, checks its shape, decodes it and hands it on. A
// frame that is not a valid message, or that the handler refuses by
// throwing codec_error, is counted and logged (rate-limited) and dropped:
// bad input from the network never ends a program.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "zpipe/codec.hpp"
#include "zpipe/log.hpp"
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
      try {
        if (count != 1) throw codec_error("expected 1 frame, got " + std::to_string(count));
        if (take_raw(parts_[0])) continue;
        const std::string_view frame = view(parts_[0]);
        handle(frame, decode(frame));
      } catch (const codec_error& e) {
        rejections_.reject(e.what());
      }
    }
  }

  /// From a ROUTER: [routing id, frame]. Calls handle(peer, frame, message).
  template <class Handle>
  void receive_routed(zmq::socket_t& socket, Handle handle) {
    while (const std::size_t count = receive_parts(socket, parts_)) {
      try {
        if (count != 2) throw codec_error("expected 1 frame, got " + std::to_string(count - 1));
        peer_.assign(view(parts_[0]));
        const std::string_view frame = view(parts_[1]);
        handle(peer_, frame, decode(frame));
      } catch (const codec_error& e) {
        rejections_.reject(e.what());
      }
    }
  }

  /// Counts a rejection found outside the loop.
  void reject(std::string_view reason) { rejections_.reject(reason); }
  [[nodiscard]] std::uint64_t rejected() const { return rejections_.count(); }
  /// The parts of the message being handled (the body of a routed one is [1]).
  [[nodiscard]] std::vector<zmq::message_t>& parts() { return parts_; }

 private:
  std::vector<zmq::message_t> parts_;
  std::string peer_;
  RejectionLog rejections_;
};

}  // namespace zpipe
