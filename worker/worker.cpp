// The worker program's network thread, around WorkerCore (worker_core.hpp):
// feeds task frames to the executor, forwards result frames to the sink, and
// lets the core answer the ventilator.
//
// Sockets:
//   to_ventilator  DEALER, connects to --ventilator: hello/credit out, tasks/job_end/hello_again in
//   to_sink        DEALER, connects to --sink: results out
//   wake           PULL, inproc: the executor says "results are ready"
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>

#include "executor.hpp"
#include "worker_core.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/connection_monitor.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/frame_receiver.hpp"
#include "zpipe/log.hpp"
#include "zpipe/metrics_file.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/worker.hpp"

namespace zpipe {
namespace {

using Clock = std::chrono::steady_clock;
// The worker asks for enough task frames to stay busy this long, which keeps
// tiny tasks streaming while a worker of slow tasks holds only a couple.
constexpr double backlog_seconds = 0.05;
// ...and never for more tasks than this, whatever their speed.
constexpr double backlog_tasks_at_most = 65536;

std::string default_worker_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "worker") + ":" + std::to_string(::getpid());
}

std::string join(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

std::uint32_t wanted_window(const Executor& executor, unsigned threads) {
  const double floor_frames = std::min(2.0 * threads, double{max_window_frames});
  const double seconds = executor.seconds_per_frame();
  if (seconds <= 0) return static_cast<std::uint32_t>(floor_frames);
  const double ceiling = std::clamp(backlog_tasks_at_most / std::max<std::uint32_t>(1, executor.largest_frame()),
                                    floor_frames, double{max_window_frames});
  return static_cast<std::uint32_t>(std::clamp(std::ceil(threads * backlog_seconds / seconds), floor_frames, ceiling));
}

// Every kind registered, but exec only when it may run: a worker without
// --allow-exec keeps a kind that refuses exec tasks (for a ventilator older
// than kinds negotiation) and is dealt none by a newer one.
std::vector<std::string> announced_kinds(const KindRegistry& kinds, const WorkerConfig& config) {
  std::vector<std::string> names = kinds.list();
  if (!config.allow_exec) std::erase(names, "exec");
  return names;
}

class WorkerProgram final : private WorkerEffects {
 public:
  WorkerProgram(const WorkerConfig& config, const KindRegistry& kinds)
      : config_(config),
        name_(config.name.empty() ? default_worker_name() : config.name),
        wake_(make_wake_socket()),
        to_ventilator_(open_socket(context_, zmq::socket_type::dealer, client_settings(task_link_settings()))),
        to_sink_(open_socket(context_, zmq::socket_type::dealer, client_settings())),
        executor_(context_, kinds, name_, config.threads, wake_endpoint),
        core_(WorkerSettings{name_, config.threads, config.once, announced_kinds(kinds, config), config.bundle}, *this) {
    if (config.curve.enabled()) {
      make_curve_client(to_ventilator_, *config.curve.own, config.ventilator_key);
      make_curve_client(to_sink_, *config.curve.own, config.sink_key);
    }
    connect_endpoint(to_ventilator_, config.ventilator, "ventilator");
    connect_endpoint(to_sink_, config.sink, "sink");
    log_line(name_ + " ready: " + std::to_string(config.threads) + " thread(s), kinds: " + join(announced_kinds(kinds, config)) +
             ", waiting for work from " + config.ventilator);
  }

  int run() {
    int signals_seen = 0;
    while (!core_.exit_status()) {
      if (signals_seen < stop_signals_received()) {
        signals_seen = stop_signals_received();
        core_.stop();
        break;
      }
      const auto now = Clock::now();
      // A ventilator (a new one, or the old one after a restart) can be told
      // about us only once the handshake with it is complete.
      if (ventilator_link_.poll_handshakes() > 0) core_.ventilator_connected(now);
      if (sink_link_.poll_handshakes() > 0) core_.sink_connected(now);
      // A refused or mismatched handshake does not mend by waiting: say why and stop.
      for (const auto* link : {&ventilator_link_, &sink_link_})
        if (link->handshake_failure()) return farewell("cannot work: " + *link->handshake_failure(), exit_runtime);
      // libzmq does not reconnect after a protocol error: without this a
      // worker sent one bad frame would wait for ever, and a job with one
      // worker hang.
      reconnect_if_given_up(to_ventilator_, ventilator_link_, config_.ventilator, "ventilator", ventilator_reconnects_);
      reconnect_if_given_up(to_sink_, sink_link_, config_.sink, "sink", sink_reconnects_);

      receive_from_ventilator();
      if (core_.exit_status()) break;
      executor_.submit(incoming_, core_.epoch());
      forward_results();
      core_.tick(Clock::now(), wanted_window(executor_, config_.threads), executor_.queued() == 0);
      say_what_it_waits_for(Clock::now());
      if (metrics_.due(Clock::now())) metrics_.write(exposition(), Clock::now());

      zmq::pollitem_t items[] = {{to_ventilator_.handle(), 0, ZMQ_POLLIN, 0},
                                 {wake_.handle(), 0, ZMQ_POLLIN, 0},
                                 {to_sink_.handle(), 0, static_cast<short>(unsent_.empty() ? 0 : ZMQ_POLLOUT), 0}};
      // Until the first handshake, look at the link's events often: that is
      // when a new worker is waiting to be dealt its first tasks.
      poll_sockets(items, std::chrono::milliseconds(core_.introduced() ? 100 : 5));
    }
    const int status = *core_.exit_status();
    return farewell(status == exit_interrupted ? "stopped by signal" : "done", status);
  }

 private:
  static constexpr const char* wake_endpoint = "inproc://zpipe-worker-wake";
  static constexpr std::chrono::seconds waiting_line_interval{10};

  zmq::socket_t make_wake_socket() {
    zmq::socket_t wake(context_, zmq::socket_type::pull);
    wake.set(zmq::sockopt::linger, 0);
    wake.bind(wake_endpoint);
    return wake;
  }

  void receive_from_ventilator() {
    from_ventilator_.receive(
        to_ventilator_,
        [&](std::string_view, const Message& message) {
          if (const auto* hello = std::get_if<Hello>(&message); hello && hello->worker == name_) {
            // Our own hello: the DEALER connected to itself (nothing listens
            // on --ventilator's loopback port). Connect again.
            ventilator_reconnects_.reject("nothing listens at " + config_.ventilator + "; connecting again");
            connect_again(to_ventilator_, ventilator_link_, config_.ventilator, "ventilator");
            return;
          }
          core_.ventilator_frame(message, Clock::now());
        },
        [&](zmq::message_t& frame) {
          if (peek_type(view(frame)) != MessageType::tasks) return false;
          incoming_.push_back(std::move(frame));
          return true;
        });
  }

  void forward_results() {
    while (receive_parts(wake_, wake_parts_) > 0) {
    }
    for (auto& work : executor_.take_finished()) unsent_.push_back(std::move(work));
    while (!unsent_.empty()) {
      auto& work = unsent_.front();
      if (!work.results_frame.empty() && !send_frame_taking(to_sink_, work.results_frame, false)) break;
      core_.finished(work.task_frames, work.epoch);
      tasks_ok_ += work.tasks_ok;
      tasks_failed_ += work.tasks_failed;
      unsent_.pop_front();
    }
  }

  // Ten seconds without a link to the ventilator or the sink get a line: a
  // worker started before them, or cut off from them, says what it waits for.
  void say_what_it_waits_for(Clock::time_point now) {
    std::string missing;
    if (!ventilator_link_.up()) missing = "the ventilator at " + config_.ventilator;
    if (!sink_link_.up())
      missing += (missing.empty() ? "" : " and ") + ("the sink at " + config_.sink);
    if (missing.empty()) {
      next_waiting_line_ = now + waiting_line_interval;
      return;
    }
    if (now < next_waiting_line_) return;
    next_waiting_line_ = now + waiting_line_interval;
    log_line("still waiting for " + missing + " (not connected): is it running, and reachable from here?");
  }

  PrometheusText exposition() const {
    PrometheusText text;
    using Type = PrometheusText::Type;
    text.family("zpipe_worker_tasks_completed_total", Type::counter, "Tasks run and their results sent to the sink")
        .sample(tasks_ok_ + tasks_failed_);
    text.family("zpipe_worker_tasks_failed_total", Type::counter, "Tasks whose result sent was a failure").sample(tasks_failed_);
    text.family("zpipe_worker_credit_window", Type::gauge, "Task frames this worker asks to hold (about 50 ms of work)")
        .sample(std::uint64_t{wanted_window(executor_, config_.threads)});
    text.family("zpipe_worker_task_frames_queued", Type::gauge, "Task frames received and not yet started")
        .sample(std::uint64_t{executor_.queued()});
    text.family("zpipe_worker_jobs_ended_total", Type::counter, "Jobs this worker saw end").sample(core_.jobs_ended());
    text.family("zpipe_worker_frames_rejected_total", Type::counter, "Frames received and dropped, by reason");
    auto rejected = from_ventilator_.rejected_by_reason();
    rejected.malformed += executor_.rejected();  // task frames are decoded by the compute threads
    add_rejection_samples(text, {}, rejected);
    return text;
  }

  int farewell(std::string_view why, int code) {
    metrics_.write(exposition(), Clock::now());  // the final counts
    log_line(std::string(why) + "; served " + std::to_string(core_.jobs_ended()) + " job(s), frames rejected: " +
             std::to_string(from_ventilator_.rejected() + executor_.rejected()));
    return code;
  }

  // WorkerEffects
  bool send_to_ventilator(std::string_view frame) override { return send_frame(to_ventilator_, frame, false); }
  void cancel_running(std::uint64_t epoch) override { executor_.cancel_below(epoch); }

  std::size_t drop_queued() override {
    incoming_.clear();
    return executor_.drop_queued();
  }
  void log(std::string_view line) override { log_line(line); }

  const WorkerConfig& config_;
  const std::string name_;
  zmq::context_t context_{1};
  zmq::socket_t wake_;
  zmq::socket_t to_ventilator_;
  zmq::socket_t to_sink_;
  ConnectionMonitor ventilator_link_{to_ventilator_, "ventilator link"};
  ConnectionMonitor sink_link_{to_sink_, "sink link"};
  Executor executor_;
  WorkerCore core_;
  FrameReceiver from_ventilator_{"message from the ventilator"};
  RejectionLog ventilator_reconnects_{"ventilator link", 3, "reconnected the"};
  RejectionLog sink_reconnects_{"sink link", 3, "reconnected the"};
  std::deque<FinishedWork> unsent_;  // results the sink's queue has no room for yet
  std::vector<zmq::message_t> incoming_;  // task frames of one burst
  std::vector<zmq::message_t> wake_parts_;
  Clock::time_point next_waiting_line_ = Clock::now() + waiting_line_interval;
  MetricsFile metrics_{config_.metrics_file};
  std::uint64_t tasks_ok_ = 0;
  std::uint64_t tasks_failed_ = 0;
};

}  // namespace

int run_worker(const WorkerConfig& config, const KindRegistry& kinds) { return WorkerProgram(config, kinds).run(); }

}  // namespace zpipe
