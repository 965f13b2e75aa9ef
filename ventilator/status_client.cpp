// See status_client.hpp.
//
// Socket:
//   to_ventilator  DEALER, connects to --ventilator: status_request out, status in
#include "status_client.hpp"

#include <unistd.h>

#include <iostream>

#include "status_view.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/connection_monitor.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/frame_receiver.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"

namespace zpipe {
namespace {

using Clock = std::chrono::steady_clock;

class StatusClient {
 public:
  explicit StatusClient(const StatusConfig& config)
      : config_(config), socket_(open_socket(context_, zmq::socket_type::dealer)), link_(socket_, "ventilator link") {
    if (config.curve.enabled()) make_curve_client(socket_, *config.curve.own, config.ventilator_key);
    connect_endpoint(socket_, config.ventilator, "ventilator");
  }

  /// The next snapshot, or nullopt (logged) when none came within the
  /// timeout, the key was refused, or a stop signal arrived.
  std::optional<Status> ask() {
    // A DEALER keeps what is sent before its first handshake and delivers it
    // then; a request sent on a link that later broke is simply asked again.
    send_frame(socket_, encode(StatusRequest{}), false);
    const auto deadline = Clock::now() + config_.timeout;
    std::optional<Status> answer;
    while (!answer) {
      if (stop_signals_received() > 0) return std::nullopt;
      link_.poll_handshakes();
      if (link_.handshake_failure()) {
        log_error("the ventilator at " + config_.ventilator + " refused this program: " + *link_.handshake_failure() +
                  "; its key must be in the ventilator's --allow-observers or --allow-workers");
        return std::nullopt;
      }
      from_ventilator_.receive(socket_, [&](std::string_view, const Message& message) {
        if (const auto* status = std::get_if<Status>(&message)) answer = *status;
        else throw codec_error("unexpected " + std::string(message_name(message)) + " message from the ventilator");
      });
      if (answer) break;
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        log_error("no answer from a ventilator at " + config_.ventilator + " within " +
                  std::to_string(config_.timeout.count()) + " ms: is it running there" +
                  (config_.curve.enabled() ? ", and does it admit this key as an observer or a worker?"
                                           : ", without CURVE keys?"));
        return std::nullopt;
      }
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      poll_sockets(std::span(&item, 1),
                   std::min(std::chrono::milliseconds(50), std::chrono::ceil<std::chrono::milliseconds>(left)));
    }
    return answer;
  }

 private:
  const StatusConfig& config_;
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  ConnectionMonitor link_;
  FrameReceiver from_ventilator_{"message from the ventilator"};
};

}  // namespace

int run_status(const StatusConfig& config) {
  StatusClient client(config);
  // A screen that refreshes in place, as top's, only on a terminal; piped
  // output gets each snapshot after the last.
  const bool redraw = config.watch && !config.json && ::isatty(STDOUT_FILENO) == 1;
  for (std::uint64_t shown = 0;;) {
    const auto asked = Clock::now();
    const auto status = client.ask();
    if (!status) return stop_signals_received() > 0 && shown > 0 ? exit_ok : exit_runtime;
    if (redraw) std::cout << "\x1b[H\x1b[2J";
    std::cout << (config.json ? format_status_json(*status) : format_status_text(*status));
    if (config.watch && !config.json && !redraw) std::cout << '\n';
    std::cout.flush();
    if (!std::cout) throw std::runtime_error("cannot write to standard output");
    ++shown;
    if (!config.watch || (config.iterations > 0 && shown >= config.iterations)) return exit_ok;
    // Wait out the interval, waking for a stop signal.
    while (Clock::now() - asked < *config.watch) {
      if (stop_signals_received() > 0) return exit_ok;
      const auto left = *config.watch - (Clock::now() - asked);
      poll_sockets({}, std::min(std::chrono::milliseconds(100), std::chrono::ceil<std::chrono::milliseconds>(left)));
    }
  }
}

}  // namespace zpipe
