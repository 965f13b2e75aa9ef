// The worker's network thread: announces itself to the ventilator, feeds task
// frames to the executor, forwards result frames to the sink, and returns
// credits so the ventilator never sends more than the worker asked for.
//
// Sockets:
//   to_ventilator  DEALER, connects to --ventilator: hello/credit out, tasks/job_end in
//   to_sink        DEALER, connects to --sink: results out
//   wake           PULL, inproc: the executor says "results are ready"
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>

#include "executor.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/connection_monitor.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/worker.hpp"

namespace zpipe {
namespace {

using Clock = std::chrono::steady_clock;
// Well inside the ventilator's --worker-timeout (1 s at least), so a live
// worker is never taken for gone.
constexpr auto keepalive_interval = std::chrono::milliseconds(250);
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

// Credit bookkeeping, in task frames. `window` is what the ventilator believes
// this worker may hold: frames it holds plus credits the ventilator has yet
// to spend. Frames finished but not yet returned are `owed`.
class CreditWindow {
 public:
  explicit CreditWindow(std::uint32_t initial) : initial_(initial) {}

  std::uint32_t reset() {
    window_ = initial_;
    owed_ = 0;
    return window_;
  }
  void finished(std::uint32_t frames) { owed_ += frames; }
  /// Caps growth at doubling per return: a window grows only as fast as
  /// measurements confirm that tasks stay quick.
  [[nodiscard]] std::uint32_t at_most_doubled(std::uint32_t wanted) const { return std::min(wanted, 2 * window_); }

  /// Returns the credits to hand back now, or 0 to wait for more to gather.
  std::uint32_t to_return(std::uint32_t wanted_window, bool idle) {
    const std::int64_t give = std::max<std::int64_t>(0, std::int64_t{owed_} + wanted_window - window_);
    if (give == 0 && owed_ == 0) return 0;
    if (!idle && give < std::max<std::int64_t>(1, window_ / 4)) return 0;
    window_ = static_cast<std::uint32_t>(window_ - owed_ + give);
    owed_ = 0;
    return static_cast<std::uint32_t>(give);
  }

 private:
  std::uint32_t initial_;
  std::uint32_t window_ = 0;
  std::uint32_t owed_ = 0;
};

std::uint32_t wanted_window(const Executor& executor, unsigned threads) {
  const double floor_frames = std::min(2.0 * threads, double{max_window_frames});
  const double seconds = executor.seconds_per_frame();
  if (seconds <= 0) return static_cast<std::uint32_t>(floor_frames);
  const double ceiling = std::clamp(backlog_tasks_at_most / std::max<std::uint32_t>(1, executor.largest_frame()),
                                    floor_frames, double{max_window_frames});
  return static_cast<std::uint32_t>(std::clamp(std::ceil(threads * backlog_seconds / seconds), floor_frames, ceiling));
}

}  // namespace

int run_worker(const WorkerConfig& config, const KindRegistry& kinds) {
  const std::string name = config.name.empty() ? default_worker_name() : config.name;
  zmq::context_t context(1);

  const std::string wake_endpoint = "inproc://zpipe-worker-wake";
  zmq::socket_t wake(context, zmq::socket_type::pull);
  wake.set(zmq::sockopt::linger, 0);
  wake.bind(wake_endpoint);

  zmq::socket_t to_ventilator = open_socket(context, zmq::socket_type::dealer, task_link_settings());
  zmq::socket_t to_sink = open_socket(context, zmq::socket_type::dealer);
  if (config.curve.enabled()) {
    make_curve_client(to_ventilator, *config.curve.own, config.ventilator_key);
    make_curve_client(to_sink, *config.curve.own, config.sink_key);
  }
  ConnectionMonitor ventilator_link(to_ventilator, "ventilator link");
  ConnectionMonitor sink_link(to_sink, "sink link");
  connect_endpoint(to_ventilator, config.ventilator, "ventilator");
  connect_endpoint(to_sink, config.sink, "sink");

  Executor executor(context, kinds, name, config.threads, wake_endpoint);
  CreditWindow credits(2 * config.threads);
  RejectionLog rejections("message from the ventilator");
  std::deque<FinishedWork> unsent;  // results the sink's queue has no room for yet
  std::vector<zmq::message_t> parts;
  std::vector<zmq::message_t> incoming;  // task frames of one burst
  std::string frame;
  auto last_sent_to_ventilator = Clock::now();
  std::uint64_t jobs_ended = 0;
  bool introduced = false;  // hello sent to the ventilator we are connected to
  log_line(name + " ready: " + std::to_string(config.threads) + " thread(s), kinds: " + kinds.names() +
           ", waiting for work from " + config.ventilator);

  const auto farewell = [&](std::string_view why, int code) {
    log_line(std::string(why) + "; served " + std::to_string(jobs_ended) + " job(s), frames rejected: " +
             std::to_string(rejections.count() + executor.rejected()));
    return code;
  };
  const auto tell_ventilator = [&](const Message& message) {
    encode(message, frame);
    send_frame(to_ventilator, frame, false);
    last_sent_to_ventilator = Clock::now();
  };
  // Tasks still queued belong to whatever the ventilator knew of us before;
  // it deals them again, so they are dropped here.
  const auto introduce = [&] {
    incoming.clear();
    executor.drop_queued();
    tell_ventilator(Hello{name, credits.reset()});
    introduced = true;
  };

  while (!stop_requested()) {
    // A ventilator (a new one, or the old one after a restart) can be told
    // about us only once the handshake with it is complete.
    if (ventilator_link.poll_handshakes() > 0) introduce();
    sink_link.poll_handshakes();
    // A refused or mismatched handshake does not mend by waiting: say why and stop.
    for (const auto* link : {&ventilator_link, &sink_link})
      if (link->handshake_failure()) return farewell("cannot work: " + *link->handshake_failure(), exit_runtime);

    zmq::pollitem_t items[] = {{to_ventilator.handle(), 0, ZMQ_POLLIN, 0},
                               {wake.handle(), 0, ZMQ_POLLIN, 0},
                               {to_sink.handle(), 0, static_cast<short>(unsent.empty() ? 0 : ZMQ_POLLOUT), 0}};
    // Until the first handshake, look at the link's events often: that is
    // when a new worker is waiting to be dealt its first tasks.
    if (!poll_sockets(items, std::chrono::milliseconds(introduced ? 100 : 5))) continue;

    while (const std::size_t count = receive_parts(to_ventilator, parts)) {
      const std::string_view body = view(parts[0]);
      if (count == 1 && peek_type(body) == MessageType::tasks) {
        incoming.push_back(std::move(parts[0]));
        continue;
      }
      try {
        if (count != 1) throw codec_error("expected 1 frame, got " + std::to_string(count));
        const Message message = decode(body);
        if (std::holds_alternative<HelloAgain>(message)) {
          log_line("the ventilator does not know this worker (it restarted, or took us for gone); saying hello again");
          introduce();
        } else if (const auto* end = std::get_if<JobEnd>(&message)) {
          ++jobs_ended;
          incoming.clear();
          executor.drop_queued();
          const std::string what = "job " + std::to_string(end->job) + (end->complete ? " is complete" : " was abandoned");
          if (config.once) return farewell(what, exit_ok);
          log_line(what + "; waiting for the next job");
          // Silent until the next ventilator's handshake: a keep-alive queued
          // now would reach it before our hello.
          introduced = false;
        } else {
          throw codec_error("unexpected " + std::string(message_name(message)) + " message");
        }
      } catch (const codec_error& e) {
        rejections.reject(e.what());
      }
    }

    executor.submit(incoming);
    while (receive_parts(wake, parts) > 0) {
    }
    for (auto& work : executor.take_finished()) unsent.push_back(std::move(work));
    while (!unsent.empty()) {
      auto& work = unsent.front();
      if (!work.results_frame.empty() && !send_frame(to_sink, work.results_frame, false)) break;
      credits.finished(work.task_frames);
      unsent.pop_front();
    }

    if (!introduced) continue;
    const bool idle = executor.queued() == 0;
    if (const auto give = credits.to_return(credits.at_most_doubled(wanted_window(executor, config.threads)), idle);
        give > 0)
      tell_ventilator(Credit{give});
    else if (Clock::now() - last_sent_to_ventilator >= keepalive_interval)
      tell_ventilator(Credit{0});
  }
  return farewell("stopped by signal", exit_interrupted);
}

}  // namespace zpipe
