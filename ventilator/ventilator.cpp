// The ventilator's loop.
//
// Sockets:
//   workers  ROUTER, binds --bind: hello/credit in, tasks/job_end out
//   to_sink  DEALER, connects to --sink: job manifest out, job_accepted/ack in
//
// Order of a job: the manifest goes to the sink (again every half second
// until accepted, so the sink may start later); dealing starts once the sink
// has accepted and --min-workers workers have said hello; the job is over
// when the input is exhausted, the sink knows the total, and every task is
// acknowledged. Then every worker is told, and the ventilator exits.
#include <chrono>
#include <deque>
#include <random>

#include "in_flight.hpp"
#include "task_source.hpp"
#include "ventilator.hpp"
#include "worker_pool.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"

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
        source_(config.count ? count_source(*config.count)
                             : line_source(config.input, DecodeLimits{}.max_string_bytes)),
        workers_socket_(open_socket(context_, zmq::socket_type::router, task_link_settings())),
        to_sink_(open_socket(context_, zmq::socket_type::dealer)) {
    manifest_.job = config.job_id.value_or(random_job_id());
    manifest_.kind = config.kind;
    manifest_.total = source_->known_total();
    batch_.job = manifest_.job;
    batch_.kind = config.kind;
    const std::string bound = bind_endpoint(workers_socket_, config.bind, "bind");
    connect_endpoint(to_sink_, config.sink, "sink");
    log_line("job " + std::to_string(manifest_.job) + ": workers connect to " + bound + ", sink at " + config.sink);
  }

  int run() {
    started_ = Clock::now();
    while (!stop_requested()) {
      send_manifest_when_due();
      zmq::pollitem_t items[] = {{workers_socket_.handle(), 0, ZMQ_POLLIN, 0},
                                 {to_sink_.handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, source_->input_fd(), static_cast<short>(waiting_for_input_ ? ZMQ_POLLIN : 0), 0}};
      const std::size_t watched = waiting_for_input_ ? 3 : 2;
      if (!poll_sockets(std::span(items, watched), std::chrono::milliseconds(100))) continue;
      receive_from_workers();
      receive_from_sink();
      if (ready_to_deal()) deal();
      if (job_complete()) return finish(true);
    }
    return finish(false);
  }

 private:
  void send_manifest_when_due() {
    if (source_->exhausted() && !manifest_.total) manifest_.total = in_flight_.read();
    const bool sink_needs_it = !accepted_ || (manifest_.total && sink_total_ != manifest_.total);
    if (!sink_needs_it || Clock::now() < next_manifest_) return;
    encode(manifest_, frame_);
    send_frame(to_sink_, frame_, false);
    next_manifest_ = Clock::now() + manifest_interval;
  }

  void receive_from_workers() {
    while (const std::size_t count = receive_parts(workers_socket_, parts_)) {
      try {
        if (count != 2) throw codec_error("expected 1 frame, got " + std::to_string(count - 1));
        const std::string routing_id(view(parts_[0]));
        const Message message = decode(view(parts_[1]));
        if (const auto* hello = std::get_if<Hello>(&message)) {
          if (workers_.hello(routing_id, hello->worker, hello->window))
            log_line("worker " + hello->worker + " joined (" + std::to_string(workers_.size()) + " now)");
        } else if (const auto* credit = std::get_if<Credit>(&message)) {
          if (!workers_.credit(routing_id, credit->batches)) throw codec_error("credit from a worker that never said hello");
        } else {
          throw codec_error("unexpected " + std::string(message_name(message)) + " message from a worker");
        }
      } catch (const codec_error& e) {
        worker_rejections_.reject(e.what());
      }
    }
  }

  void receive_from_sink() {
    while (const std::size_t count = receive_parts(to_sink_, parts_)) {
      try {
        if (count != 1) throw codec_error("expected 1 frame, got " + std::to_string(count));
        const Message message = decode(view(parts_[0]));
        if (const auto* accepted = std::get_if<JobAccepted>(&message)) {
          if (accepted->job != manifest_.job) throw codec_error("job_accepted for another job");
          if (!accepted_) log_line("sink accepted the job");
          accepted_ = true;
          sink_total_ = accepted->total;
        } else if (const auto* refused = std::get_if<JobRefused>(&message)) {
          throw std::runtime_error("the sink refused job " + std::to_string(refused->job) + ": " + refused->reason);
        } else if (const auto* ack = std::get_if<Ack>(&message)) {
          if (ack->job != manifest_.job) throw codec_error("ack for another job");
          for (const auto& [first, last] : ack->ranges)
            in_flight_.acknowledge(first, last, [&](InFlightTable::Holder holder) { --workers_.at(holder).tasks_held; });
        } else {
          throw codec_error("unexpected " + std::string(message_name(message)) + " message from the sink");
        }
      } catch (const codec_error& e) {
        sink_rejections_.reject(e.what());
      }
    }
  }

  bool ready_to_deal() {
    if (dealing_) return true;
    if (!accepted_ || workers_.size() < config_.min_workers) return false;
    dealing_ = true;
    log_line("dealing to " + std::to_string(workers_.size()) + " worker(s)");
    return true;
  }

  // Fills one frame per worker with credit, in turn, until credits, tasks
  // or room in the in-flight table run out.
  void deal() {
    waiting_for_input_ = false;
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
        if (!task->error.empty()) {
          fail_unreadable(std::move(task->error));
          continue;
        }
        const TaskId id = in_flight_.add(task->payload);
        batch_.tasks.push_back(Task{id, std::move(task->payload)});
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
      ++worker->frames_sent;
    }
  }

  // A task the ventilator itself cannot send (an over-long line) is
  // reported to the sink as failed, so the job still completes and says why.
  void fail_unreadable(std::string reason) {
    failures_.job = manifest_.job;
    failures_.worker = "ventilator";
    const TaskId id = in_flight_.add(Value{});
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
    return *manifest_.total - (in_flight_.read() - in_flight_.unacknowledged());
  }

  bool job_complete() const {
    return source_->exhausted() && manifest_.total && sink_total_ == manifest_.total && in_flight_.unacknowledged() == 0;
  }

  int finish(bool complete) {
    for (const auto& worker : workers_.all()) {
      encode(JobEnd{manifest_.job, complete}, frame_);
      send_to(workers_socket_, worker.routing_id, frame_);
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    log_line(std::string(complete ? "job complete: " : "stopped by signal: ") + std::to_string(in_flight_.read()) +
             " tasks read, " + std::to_string(in_flight_.read() - in_flight_.unacknowledged()) + " acknowledged, " +
             std::to_string(workers_.size()) + " worker(s), " + std::to_string(seconds) + " s; rejected " +
             std::to_string(worker_rejections_.count()) + " worker and " + std::to_string(sink_rejections_.count()) +
             " sink message(s)");
    return complete ? exit_ok : exit_interrupted;
  }

  const VentilatorConfig& config_;
  std::unique_ptr<TaskSource> source_;
  zmq::context_t context_{1};
  zmq::socket_t workers_socket_;
  zmq::socket_t to_sink_;
  WorkerPool workers_;
  InFlightTable in_flight_;
  JobManifest manifest_;
  std::optional<std::uint64_t> sink_total_;
  bool accepted_ = false;
  bool dealing_ = false;
  bool waiting_for_input_ = false;
  Clock::time_point next_manifest_{};
  Clock::time_point started_{};
  std::deque<TaskId> to_redeal_;  // read, not held by any worker, not acknowledged
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
