// The ventilator program: sockets, poll, signals around VentilatorCore,
// which holds every protocol decision (ventilator_core.hpp).
//
// Sockets:
//   workers  ROUTER, binds --bind: hello/credit in, tasks/job_end/hello_again
//            out; status_request in and status out, for zpipe-status
//   to_sink  DEALER, connects to --sink: manifest, failures and job_end out,
//            job_accepted/job_refused/ack/job_end in
#include <chrono>
#include <deque>
#include <random>
#include <unordered_map>

#include "zpipe/codec.hpp"
#include "zpipe/connection_monitor.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/frame_receiver.hpp"
#include "zpipe/log.hpp"
#include "zpipe/metrics_file.hpp"
#include "zpipe/peer_connections.hpp"
#include "zpipe/peer_trust.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/task_source.hpp"
#include "zpipe/ventilator.hpp"
#include "command_template.hpp"
#include "zpipe/ventilator_core.hpp"
#include "zpipe/zap_authenticator.hpp"

namespace zpipe {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto poll_at_most = std::chrono::milliseconds(100);

JobId random_job_id() {
  std::random_device entropy;
  return (static_cast<JobId>(entropy()) << 32 | entropy()) & 0x7fffffffffffffffULL;
}

VentilatorSettings settings_of(const VentilatorConfig& config) {
  VentilatorSettings settings;
  settings.job = config.job_id.value_or(random_job_id());
  settings.kind = config.kind;
  settings.batch = config.batch;
  settings.min_workers = config.min_workers;
  settings.max_in_flight = config.max_in_flight;
  settings.worker_timeout = config.worker_timeout;
  settings.max_attempts = config.max_attempts;
  settings.retries = config.retries;
  settings.task_timeout = config.task_timeout;
  settings.max_held_per_worker = config.max_held_per_worker.value_or(config.max_in_flight);
  settings.resume = config.resume;
  settings.resume_failed = config.resume_failed;
  settings.halt = config.halt;
  // Non-zero and new for each run: the sink takes a job up again once per run.
  if (config.resume) settings.resume_token = random_job_id() | 1;
  settings.kind_timeout = config.kind_timeout;
  settings.sink_name = config.sink;
  return settings;
}

std::unique_ptr<TaskSource> open_source(const VentilatorConfig& config) {
  if (config.make_source) return config.make_source();
  if (config.count) return count_source(config.kind, *config.count);
  auto lines = line_source(config.input, LineSourceOptions{config.kind, DecodeLimits{}.max_string_bytes, config.resume});
  if (config.command.empty()) return lines;
  return command_source(std::move(lines), config.command);
}

class VentilatorProgram final : private VentilatorEffects {
 public:
  explicit VentilatorProgram(const VentilatorConfig& config)
      : config_(config),
        workers_socket_(open_socket(context_, zmq::socket_type::router, server_settings(task_link_settings()))),
        to_sink_(open_socket(context_, zmq::socket_type::dealer)),
        sink_link_(to_sink_, "sink link"),
        core_(settings_of(config), open_source(config), *this, Clock::now()) {
    if (config.curve.enabled()) {
      zap_.emplace(context_, config.curve.allow);
      trust_ = PeerTrust(*zap_);
      make_curve_server(workers_socket_, *config.curve.own);
      make_curve_client(to_sink_, *config.curve.own, config.sink_key);
    } else {
      check_plaintext_bind(config.bind, config.curve, "bind");
    }
    const std::string bound = bind_endpoint(workers_socket_, config.bind, "bind");
    connect_endpoint(to_sink_, config.sink, "sink");
    log_line("job " + std::to_string(core_.job()) + ": workers connect to " + bound + ", sink at " + config.sink);
    if (config.on_bound) config.on_bound(bound);
  }

  int run() {
    const auto started = Clock::now();
    int signals_seen = 0;
    while (!core_.exit_status()) {
      const auto now = Clock::now();
      const int requests = config_.stop_requests ? config_.stop_requests() : stop_signals_received();
      for (; signals_seen < requests; ++signals_seen) core_.stop(now);
      if (sink_link_.handshake_failure())
        throw std::runtime_error("cannot reach the sink: " + *sink_link_.handshake_failure());
      for (auto handshakes = sink_link_.poll_handshakes(); handshakes > 0; --handshakes) core_.sink_connected(now);
      // libzmq does not reconnect after a protocol error: the job would wait for ever.
      reconnect_if_given_up(to_sink_, sink_link_, config_.sink, "sink", sink_reconnects_);
      receive_from_workers();
      take_back_from_disconnected_workers();
      receive_from_sink();
      flush_to_sink();
      core_.tick(Clock::now());
      if (metrics_.due(Clock::now())) metrics_.write(exposition(), Clock::now());
      if (core_.exit_status()) break;
      zmq::pollitem_t items[] = {{workers_socket_.handle(), 0, ZMQ_POLLIN, 0},
                                 {to_sink_.handle(), 0, static_cast<short>(ZMQ_POLLIN | (outbox_.empty() ? 0 : ZMQ_POLLOUT)), 0},
                                 {worker_peers_.monitor_socket().handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, core_.source().input_fd(), ZMQ_POLLIN, 0}};
      const std::size_t watched = core_.waiting_for_input() && core_.source().input_fd() >= 0 ? 4 : 3;
      poll_sockets(std::span(items, watched), poll_timeout());
    }
    metrics_.write(exposition(), Clock::now());  // the final counts
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    log_line(core_.summary(seconds) + "; rejected " + std::to_string(from_workers_.rejected()) + " worker and " +
             std::to_string(from_sink_.rejected()) + " sink message(s); refused " + std::to_string(refused_.count()) +
             " from keys without the role to send it");
    return *core_.exit_status();
  }

 private:
  PrometheusText exposition() const {
    PrometheusText text;
    using Type = PrometheusText::Type;
    text.family("zpipe_ventilator_tasks_read_total", Type::counter, "Tasks read from the job's input").sample(core_.read());
    text.family("zpipe_ventilator_tasks_dealt_total", Type::counter, "Tasks sent to workers, dealings again included")
        .sample(core_.dealt());
    text.family("zpipe_ventilator_tasks_dealt_again_total", Type::counter,
                "Tasks dealt again because their worker was lost or said hello again")
        .sample(core_.dealt_again());
    text.family("zpipe_ventilator_tasks_completed_total", Type::counter, "Tasks whose result the sink acknowledged")
        .sample(core_.acknowledged());
    text.family("zpipe_ventilator_tasks_failed_total", Type::counter,
                "Tasks reported failed by the ventilator: lost with --max-attempts workers")
        .sample(core_.failed());
    text.family("zpipe_ventilator_tasks_retried_total", Type::counter,
                "Failed attempts run again at the sink's request (--retries)")
        .sample(core_.retried());
    text.family("zpipe_ventilator_tasks_in_flight", Type::gauge, "Tasks read and not yet acknowledged by the sink")
        .sample(core_.in_flight());
    text.family("zpipe_ventilator_workers", Type::gauge, "Workers connected and dealt to").sample(std::uint64_t{core_.workers()});
    text.family("zpipe_ventilator_workers_lost_total", Type::counter, "Workers taken for gone (silent or disconnected)")
        .sample(core_.workers_lost());
    text.family("zpipe_ventilator_frames_rejected_total", Type::counter, "Frames received and dropped, by sender and reason");
    add_rejection_samples(text, "worker", from_workers_.rejected_by_reason());
    add_rejection_samples(text, "sink", from_sink_.rejected_by_reason());
    return text;
  }

  std::chrono::milliseconds poll_timeout() const {
    const auto until = core_.next_deadline() - Clock::now();
    if (until <= Clock::duration::zero()) return std::chrono::milliseconds(0);
    return std::min(poll_at_most, std::chrono::ceil<std::chrono::milliseconds>(until));
  }

  void receive_from_workers() {
    from_workers_.receive_routed(workers_socket_, [&](const std::string& peer, std::string_view, const Message& message) {
      worker_peers_.seen(peer, from_workers_.parts()[1]);
      const PeerIdentity& identity = trust_.of(peer, from_workers_.parts()[1]);
      if (std::holds_alternative<StatusRequest>(message)) return answer_status(peer, identity);
      if (!identity.may(Role::worker))
        return refused_.reject(std::string(message_name(message)) + " from key '" + identity.name +
                               "', which is not (or no longer) allowed as a worker");
      core_.worker_frame(peer, identity, message, Clock::now());
    });
  }

  // zpipe-status asks with a worker's or an observer's key. However many ask,
  // a snapshot is built at most once per status_refresh: its cost grows
  // with the workers connected. Each peer is answered at most every
  // status_answer_interval: a peer that asks without reading would
  // otherwise queue a copy per request, up to the socket's high-water mark.
  void answer_status(const std::string& peer, const PeerIdentity& identity) {
    if (!identity.may(Role::worker) && !identity.may(Role::observer))
      return refused_.reject("status_request from key '" + identity.name +
                             "', which is allowed neither as an observer nor as a worker");
    const auto now = Clock::now();
    auto [answered, first] = status_answered_.try_emplace(peer, now);
    if (!first && now - answered->second < status_answer_interval)
      return too_often_.reject("status_request again within " + std::to_string(status_answer_interval.count()) +
                               " ms");
    answered->second = now;
    if (status_frame_.empty() || now - status_built_ >= status_refresh) {
      encode(core_.status(now), status_frame_);
      status_built_ = now;
    }
    send_to(workers_socket_, peer, status_frame_);
  }

  // A worker process that dies closes its connection: its tasks go to
  // others at once, not after --worker-timeout of silence. A worker whose
  // key was removed from the allow-list loses them as well.
  void take_back_from_disconnected_workers() {
    for (const std::string& peer : worker_peers_.take_gone()) {
      trust_.forget(peer);
      status_answered_.erase(peer);
      core_.worker_gone(peer, Clock::now());
    }
    for (const auto& revoked : trust_.take_revoked()) {
      // A key that loses only its observer role is still a worker.
      if (!has_role(revoked.lost, Role::worker)) {
        log_line(revoked.line());
        continue;
      }
      std::uint64_t redealt = 0;
      for (const std::string& peer : revoked.peers) redealt += core_.worker_revoked(peer, Clock::now());
      log_line(revoked.line() + "; dealing its " + std::to_string(redealt) + " task(s) again");
    }
  }

  void receive_from_sink() {
    from_sink_.receive(to_sink_, [&](std::string_view, const Message& message) {
      // Only a ventilator sends these: a DEALER that connected to its own
      // port (nothing listens on --sink's loopback port, and the kernel gave
      // our side the same one). Connect again to get another port.
      if (const auto* manifest = std::get_if<JobManifest>(&message); manifest && manifest->job == core_.job()) {
        sink_reconnects_.reject("nothing listens at " + config_.sink + " and the link looped back to itself; connecting again");
        connect_again(to_sink_, sink_link_, config_.sink, "sink");
        return;
      }
      core_.sink_frame(message, Clock::now());
    });
  }

  // VentilatorEffects
  bool send_to_worker(std::string_view peer, std::string& frame) override {
    return send_to_taking(workers_socket_, peer, frame);
  }

  // Results (failures) must reach the sink and wait for room; manifests and
  // job_end are sent again on a timer, so one that finds no room is dropped.
  void send_to_sink(std::string_view frame) override {
    if (outbox_.empty() && send_frame(to_sink_, frame, false)) return;
    if (peek_type(frame) == MessageType::results) outbox_.emplace_back(frame);
  }

  void log(std::string_view line) override { log_line(line); }

  void flush_to_sink() {
    while (!outbox_.empty() && send_frame(to_sink_, outbox_.front(), false)) outbox_.pop_front();
  }

  const VentilatorConfig& config_;
  zmq::context_t context_{1};
  std::optional<ZapAuthenticator> zap_;  // before the sockets: it must answer before they bind
  zmq::socket_t workers_socket_;
  zmq::socket_t to_sink_;
  ConnectionMonitor sink_link_;
  PeerConnections worker_peers_{context_, workers_socket_, "worker socket"};  // the socket's one monitor
  PeerTrust trust_;
  VentilatorCore core_;
  std::deque<std::string> outbox_;
  FrameReceiver from_workers_{"message from a worker"};
  FrameReceiver from_sink_{"message from the sink"};
  RejectionLog refused_{"frame from a worker connection"};
  static constexpr auto status_refresh = std::chrono::milliseconds(100);
  // zpipe-status asks at most every 200 ms (--watch): this leaves room for delay.
  static constexpr auto status_answer_interval = std::chrono::milliseconds(50);
  std::string status_frame_;
  Clock::time_point status_built_{};
  std::unordered_map<std::string, Clock::time_point> status_answered_;  // by peer, while connected
  RejectionLog too_often_{"status request", 3, "dropped a"};
  RejectionLog sink_reconnects_{"sink link", 3, "reconnected the"};
  MetricsFile metrics_{config_.metrics_file};
};

}  // namespace

int run_ventilator(const VentilatorConfig& config) { return VentilatorProgram(config).run(); }

}  // namespace zpipe
