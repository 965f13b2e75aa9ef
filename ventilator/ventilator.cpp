// The ventilator's loop.
//
// Sockets:
//   workers  ROUTER, binds --bind: hello/credit in, tasks/job_end/hello_again out
//   to_sink  DEALER, connects to --sink: manifest and tasks it fails itself
//            out, job_accepted/job_refused/ack in
//
// Order of a job: the manifest goes to the sink (again every half second
// until accepted, and again whenever the link to the sink is re-established);
// dealing starts once the sink has accepted, has acknowledged what it already
// holds, and --min-workers workers have said hello. Every task stays in the
// in-flight table until the sink acknowledges it: a worker that falls silent
// loses its tasks to others, and a sink that comes back gets every
// unacknowledged task again (it drops what it already has). The job is over
// when the input is exhausted, the sink knows the total, and every task is
// acknowledged; then every worker is told, and the ventilator exits.
#include <chrono>
#include <deque>
#include <random>
#include <utility>

#include "in_flight.hpp"
#include "range_set.hpp"
#include "task_source.hpp"
#include "ventilator.hpp"
#include "worker_pool.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/connection_monitor.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/zap_authenticator.hpp"

namespace zpipe {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto manifest_interval = std::chrono::milliseconds(500);

JobId random_job_id() {
  std::random_device entropy;
  return (static_cast<JobId>(entropy()) << 32 | entropy()) & 0x7fffffffffffffffULL;
}

class Ventilator {
 public:
  explicit Ventilator(const VentilatorConfig& config)
      : config_(config),
        source_(config.count ? count_source(config.kind, *config.count)
                             : line_source(config.input, {.kind = config.kind,
                                                          .max_line_bytes = DecodeLimits{}.max_string_bytes,
                                                          .fingerprint_before_dealing = config.resume})),
        workers_socket_(open_socket(context_, zmq::socket_type::router, task_link_settings())),
        to_sink_(open_socket(context_, zmq::socket_type::dealer)),
        sink_link_(to_sink_, "sink link") {
    manifest_.job = config.job_id.value_or(random_job_id());
    manifest_.kind = config.kind;
    manifest_.total = source_->known_total();
    manifest_.fingerprint = source_->fingerprint().value_or("");  // a pipe's: once read to its end
    manifest_.resume = config.resume;
    batch_.kind = config.kind;
    if (config.curve.enabled()) {
      zap_.emplace(context_, config.curve.allow_keys_dir);
      make_curve_server(workers_socket_, *config.curve.own);
      make_curve_client(to_sink_, *config.curve.own, config.sink_key);
    } else {
      check_plaintext_bind(config.bind, config.curve, "bind");
    }
    const std::string bound = bind_endpoint(workers_socket_, config.bind, "bind");
    connect_endpoint(to_sink_, config.sink, "sink");
    log_line("job " + std::to_string(manifest_.job) + ": workers connect to " + bound + ", sink at " + config.sink);
  }

  int run() {
    started_ = Clock::now();
    while (!stop_requested()) {
      worker_link_.poll_handshakes();  // logs refused and broken connections
      watch_sink_link();
      send_manifest_when_due();
      zmq::pollitem_t items[] = {{workers_socket_.handle(), 0, ZMQ_POLLIN, 0},
                                 {to_sink_.handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, source_->input_fd(), ZMQ_POLLIN, 0}};
      const std::size_t watched = waiting_for_input_ ? 3 : 2;
      if (!poll_sockets(std::span(items, watched), std::chrono::milliseconds(100))) continue;
      receive_from_workers();
      receive_from_sink();
      take_back_from_silent_workers();
      if (ready_to_deal()) deal();
      if (job_complete()) return finish(true);
    }
    return finish(false);
  }

 private:
  // A second handshake means the sink restarted or the link came back: the
  // sink must accept the job again and say what it holds before dealing on.
  void watch_sink_link() {
    if (sink_link_.handshake_failure())
      throw std::runtime_error("cannot reach the sink: " + *sink_link_.handshake_failure());
    if (sink_link_.poll_handshakes() == 0 || sink_link_.handshakes() == 1) return;
    log_line("link to the sink is back; sending the manifest again");
    accepted_ = false;
    redeal_after_sync_ = true;
    next_manifest_ = Clock::now();
  }

  void send_manifest_when_due() {
    if (source_->exhausted() && !manifest_.total) {
      manifest_.total = in_flight_.read();
      manifest_.fingerprint = source_->fingerprint().value_or("");
    }
    const bool sink_needs_it = !accepted_ || (manifest_.total && sink_total_ != manifest_.total);
    if (!sink_needs_it || Clock::now() < next_manifest_) return;
    manifest_.acknowledged = acknowledged();
    encode(manifest_, frame_);
    send_frame(to_sink_, frame_, false);
    const auto now = Clock::now();
    next_manifest_ = now + manifest_interval;
    if (accepted_ || now < next_waiting_line_) return;
    if (next_waiting_line_ != Clock::time_point{})
      log_line("still waiting for the sink at " + config_.sink + " to accept the job: is it running?");
    next_waiting_line_ = now + std::chrono::seconds(10);
  }

  void receive_from_workers() {
    const auto now = Clock::now();
    while (const std::size_t count = receive_parts(workers_socket_, parts_)) {
      try {
        if (count != 2) throw codec_error("expected 1 frame, got " + std::to_string(count - 1));
        const std::string routing_id(view(parts_[0]));
        const Message message = decode(view(parts_[1]));
        if (const auto* hello = std::get_if<Hello>(&message)) {
          take_hello(routing_id, *hello, now);
        } else if (const auto* credit = std::get_if<Credit>(&message)) {
          // A worker we took for gone, or one of a ventilator before us.
          if (!workers_.credit(routing_id, credit->batches, now)) {
            encode(HelloAgain{}, frame_);
            send_to(workers_socket_, routing_id, frame_);
          }
        } else {
          throw codec_error("unexpected " + std::string(message_name(message)) + " message from a worker");
        }
      } catch (const codec_error& e) {
        worker_rejections_.reject(e.what());
      }
    }
  }

  void take_hello(const std::string& routing_id, const Hello& hello, Clock::time_point now) {
    const auto known = workers_.alive();
    const auto slot = workers_.hello(routing_id, hello.worker, hello.window, now);
    // A hello from a worker we know means it dropped what it held.
    take_back(slot, "said hello again", false);
    if (workers_.alive() > known)
      log_line("worker " + hello.worker + " joined (" + std::to_string(workers_.alive()) + " now)");
  }

  void take_back_from_silent_workers() {
    const auto now = Clock::now();
    if (now < next_expiry_check_) return;
    next_expiry_check_ = now + std::chrono::milliseconds(100);
    for (const auto slot : workers_.expire(now, config_.worker_timeout)) {
      ++workers_lost_;
      take_back(slot, "is silent for " + std::to_string(config_.worker_timeout.count()) + " ms; taken for gone", true);
    }
  }

  // Deals a worker's tasks again. When the worker was lost (not merely
  // reset), each of its tasks counts a loss. A loss in a shared backlog may
  // not be the task's fault, so a task one loss short of --max-attempts is a
  // suspect: it is dealt alone to an idle worker, and only a loss there can
  // fail it. That fails a poison task without failing its neighbours.
  void take_back(std::uint32_t slot, const std::string& why, bool lost) {
    WorkerState& worker = workers_.at(slot);
    const bool was_isolating = std::exchange(worker.isolating, false);
    const auto ids = in_flight_.release(slot);
    worker.tasks_held = 0;
    if (ids.empty() && !lost) return;
    std::uint64_t failed = 0;
    for (const TaskId id : ids) {
      const std::uint32_t losses = lost ? in_flight_.lost(id) : 0;
      if (lost && was_isolating && losses >= config_.max_attempts) {
        ++failed;
        fail_task(id, "lost with " + std::to_string(losses) + " workers, the last of which (" + worker.name + ", " +
                          why + ") ran it alone; not tried again");
      } else if (lost && losses + 1 >= config_.max_attempts) {
        suspects_.push_back(id);
      } else {
        to_redeal_.push_back(id);
      }
    }
    redealt_ += ids.size() - failed;
    log_line("worker " + worker.name + " " + why + ": dealing its " + std::to_string(ids.size() - failed) +
             " task(s) again" + (failed > 0 ? ", " + std::to_string(failed) + " failed after too many attempts" : ""));
    send_failures();
  }

  // Deals each suspect task alone to a worker that holds nothing else.
  void deal_suspects() {
    while (!suspects_.empty()) {
      const TaskId id = suspects_.front();
      if (!in_flight_.pending(id)) {
        suspects_.pop_front();
        continue;
      }
      WorkerState* worker = workers_.idle_worker();
      if (worker == nullptr) return;
      suspects_.pop_front();
      batch_.tasks.assign(1, Task{id, in_flight_.payload(id)});
      encode(batch_, frame_);
      if (!send_to(workers_socket_, worker->routing_id, frame_)) {
        worker->credits = 0;
        suspects_.push_front(id);
        continue;
      }
      in_flight_.assign(id, workers_.slot_of(*worker));
      worker->tasks_held = 1;
      worker->isolating = true;
      --worker->credits;
    }
  }

  void receive_from_sink() {
    while (const std::size_t count = receive_parts(to_sink_, parts_)) {
      try {
        if (count != 1) throw codec_error("expected 1 frame, got " + std::to_string(count));
        const Message message = decode(view(parts_[0]));
        if (const auto* accepted = std::get_if<JobAccepted>(&message)) take_acceptance(*accepted);
        else if (const auto* refused = std::get_if<JobRefused>(&message))
          throw std::runtime_error("the sink refused job " + std::to_string(refused->job) + ": " + refused->reason);
        else if (const auto* ack = std::get_if<Ack>(&message)) take_ack(*ack);
        else throw codec_error("unexpected " + std::string(message_name(message)) + " message from the sink");
      } catch (const codec_error& e) {
        sink_rejections_.reject(e.what());
      }
    }
  }

  void take_acceptance(const JobAccepted& accepted) {
    if (accepted.job != manifest_.job) {
      if (!config_.resume || accepted_) throw codec_error("job_accepted for another job");
      log_line("resuming the sink's job " + std::to_string(accepted.job) + ": it holds " +
               std::to_string(accepted.completed) + " result(s)");
      manifest_.job = accepted.job;
    } else if (!accepted_) {
      log_line("sink accepted the job");
    }
    accepted_ = true;
    sink_total_ = accepted.total;
    sink_holds_ = accepted.completed;
  }

  void take_ack(const Ack& ack) {
    if (ack.job != manifest_.job) throw codec_error("ack for another job");
    const TaskId read = in_flight_.read();
    for (auto [first, last] : ack.ranges) {
      if (first <= read)
        in_flight_.acknowledge(first, std::min(last, read), [&](InFlightTable::Holder holder) {
          WorkerState& worker = workers_.at(holder);
          if (--worker.tasks_held == 0) worker.isolating = false;
        });
      if (last > read) not_read_yet_.add(std::max(first, read + 1), last);
    }
  }

  std::uint64_t acknowledged() const {
    return in_flight_.read() - in_flight_.unacknowledged() + not_read_yet_.count() - skipped_;
  }

  // Deals only once the sink has said what it holds, so nothing it has is
  // dealt again on a resume or after it restarted.
  bool ready_to_deal() {
    if (!accepted_ || acknowledged() < sink_holds_) return false;
    if (redeal_after_sync_) {
      redeal_after_sync_ = false;
      for (auto& worker : workers_.all()) {
        workers_.at(workers_.slot_of(worker)).tasks_held = 0;
        workers_.at(workers_.slot_of(worker)).isolating = false;
      }
      const auto ids = in_flight_.release_all();
      to_redeal_.assign(ids.begin(), ids.end());
      if (!ids.empty()) log_line("dealing " + std::to_string(ids.size()) + " unacknowledged task(s) again");
    }
    if (dealing_) return true;
    if (workers_.alive() < config_.min_workers) return false;
    dealing_ = true;
    log_line("dealing to " + std::to_string(workers_.alive()) + " worker(s)");
    return true;
  }

  // Fills one frame per worker with credit, in turn, until credits, tasks
  // or room in the in-flight table run out.
  void deal() {
    waiting_for_input_ = false;
    batch_.job = manifest_.job;
    deal_suspects();
    while (WorkerState* worker = workers_.next_to_deal(remaining_tasks())) {
      batch_.tasks.clear();
      while (batch_.tasks.size() < config_.batch && !to_redeal_.empty()) {
        const TaskId id = to_redeal_.front();
        to_redeal_.pop_front();
        if (in_flight_.pending(id)) batch_.tasks.push_back(Task{id, in_flight_.payload(id)});
      }
      while (batch_.tasks.size() < config_.batch && in_flight_.span() < config_.max_in_flight) {
        auto task = source_->next();
        if (!task) {
          waiting_for_input_ = !source_->exhausted();
          break;
        }
        const TaskId id = in_flight_.add(task->payload);
        if (not_read_yet_.take(id)) {
          ++skipped_;
          in_flight_.acknowledge(id, id, [](InFlightTable::Holder) {});
        } else if (!task->error.empty()) {
          fail_task(id, std::move(task->error));
        } else {
          batch_.tasks.push_back(Task{id, std::move(task->payload)});
        }
      }
      send_failures();
      if (batch_.tasks.empty()) return;
      encode(batch_, frame_);
      if (!send_to(workers_socket_, worker->routing_id, frame_)) {
        // The worker is gone or its queue is full: its credits are void and
        // the frame's tasks go to the next worker with credit.
        worker->credits = 0;
        for (const Task& task : batch_.tasks) to_redeal_.push_back(task.id);
        continue;
      }
      const auto holder = workers_.slot_of(*worker);
      for (const Task& task : batch_.tasks) in_flight_.assign(task.id, holder);
      worker->tasks_held += batch_.tasks.size();
      --worker->credits;
    }
  }

  // A task the ventilator gives up on (a line too long to send, a task lost
  // with too many workers) is reported to the sink as failed, so the job
  // still completes and says why.
  void fail_task(TaskId id, std::string reason) {
    failures_.job = manifest_.job;
    failures_.worker = "ventilator";
    failures_.results.push_back(Result{id, false, std::move(reason)});
  }

  void send_failures() {
    if (failures_.results.empty()) return;
    encode(failures_, frame_);
    send_frame(to_sink_, frame_);
    failures_.results.clear();
  }

  // Tasks without a result yet, as far as the ventilator can tell.
  std::optional<std::uint64_t> remaining_tasks() const {
    if (!manifest_.total) return std::nullopt;
    return *manifest_.total - std::min(*manifest_.total, acknowledged());
  }

  bool job_complete() const {
    return source_->exhausted() && manifest_.total && sink_total_ == manifest_.total && accepted_ &&
           in_flight_.unacknowledged() == 0;
  }

  int finish(bool complete) {
    for (const auto& worker : workers_.all()) {
      encode(JobEnd{manifest_.job, complete}, frame_);
      send_to(workers_socket_, worker.routing_id, frame_);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    log_line(std::string(complete ? "job complete: " : "stopped by signal: ") + std::to_string(in_flight_.read()) +
             " tasks read, " + std::to_string(acknowledged()) + " acknowledged, " + std::to_string(redealt_) +
             " dealt again, " + std::to_string(workers_.all().size()) + " worker(s) (" + std::to_string(workers_lost_) +
             " lost), " + std::to_string(seconds) + " s; rejected " + std::to_string(worker_rejections_.count()) +
             " worker and " + std::to_string(sink_rejections_.count()) + " sink message(s)");
    return complete ? exit_ok : exit_interrupted;
  }

  const VentilatorConfig& config_;
  std::unique_ptr<TaskSource> source_;
  zmq::context_t context_{1};
  std::optional<ZapAuthenticator> zap_;  // before the sockets: it must answer before they bind
  zmq::socket_t workers_socket_;
  zmq::socket_t to_sink_;
  ConnectionMonitor sink_link_;
  ConnectionMonitor worker_link_{workers_socket_, "worker socket"};
  WorkerPool workers_;
  InFlightTable in_flight_;
  RangeSet not_read_yet_;         // acknowledged by the sink, not read by us yet (resume)
  std::uint64_t skipped_ = 0;     // ids read that not_read_yet_ held: done already
  std::deque<TaskId> to_redeal_;  // read, not held by any worker, not acknowledged
  std::deque<TaskId> suspects_;   // like to_redeal_, but to be run alone
  JobManifest manifest_;
  std::optional<std::uint64_t> sink_total_;
  std::uint64_t sink_holds_ = 0;  // results the sink said it had when it accepted
  bool accepted_ = false;
  bool redeal_after_sync_ = false;
  bool dealing_ = false;
  bool waiting_for_input_ = false;
  std::uint64_t redealt_ = 0;
  std::uint64_t workers_lost_ = 0;
  Clock::time_point next_manifest_{};
  Clock::time_point next_waiting_line_{};
  Clock::time_point next_expiry_check_{};
  Clock::time_point started_{};
  TaskBatch batch_;
  ResultBatch failures_;
  std::string frame_;
  std::vector<zmq::message_t> parts_;
  RejectionLog worker_rejections_{"message from a worker"};
  RejectionLog sink_rejections_{"message from the sink"};
};

}  // namespace

int run_ventilator(const VentilatorConfig& config) { return Ventilator(config).run(); }

}  // namespace zpipe
