// The sink program: the socket, the output file, the journal and signals
// around SinkCore, which holds every protocol decision (sink_core.hpp).
//
// Socket:
//   peers  ROUTER, binds --bind. From the ventilator: job manifests, results
//          of tasks it failed itself, job_end. From workers: results. To the
//          ventilator: job_accepted or job_refused, acks, job_end.
//
// The socket is bound, and the output and journal locked, before anything
// is truncated: a second sink on the same address or files exits 3 and
// leaves the first one's files alone.
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <variant>

#include "journal.hpp"
#include "progress.hpp"
#include "task_files.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/frame_receiver.hpp"
#include "zpipe/lease.hpp"
#include "zpipe/locked_file.hpp"
#include "zpipe/log.hpp"
#include "zpipe/metrics_file.hpp"
#include "zpipe/peer_connections.hpp"
#include "zpipe/peer_trust.hpp"
#include "zpipe/sink.hpp"
#include "zpipe/sink_core.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/zap_authenticator.hpp"

namespace zpipe {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto poll_at_most = std::chrono::milliseconds(100);

bool progress_wanted(ProgressMode mode) {
  if (mode == ProgressMode::always) return true;
  return mode == ProgressMode::automatic && ::isatty(STDERR_FILENO) == 1;
}

void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) throw std::runtime_error(std::string("cannot write results: ") + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
}

class SinkProgram final : private SinkEffects {
 public:
  explicit SinkProgram(const SinkConfig& config)
      : config_(config),
        progress_(progress_wanted(config.progress)),
        peers_(open_socket(context_, zmq::socket_type::router, server_settings())) {
    if (config.curve.enabled()) {
      zap_.emplace(context_, config.curve.allow);
      trust_ = PeerTrust(*zap_);
      make_curve_server(peers_, *config.curve.own);
    } else {
      check_plaintext_bind(config.bind, config.curve, "bind");
    }
    const std::string bound = bind_endpoint(peers_, config.bind, "bind");
    if (!config.output.empty() && !config.on_output) output_.emplace(LockedFile::open(config.output, "--output", 0644));
    if (!config.journal.empty()) journal_.emplace(config.journal);
    // Only now, holding the address and both files, is the output emptied:
    // it is rewritten from the journal, or starts a new job.
    if (output_) output_->truncate();
    if (!config.joblog.empty() || !config.results_dir.empty())
      task_files_.emplace(config.joblog, config.results_dir, journal_.has_value());
    core_.emplace(SinkSettings{config.format, journal_.has_value(), output_.has_value() || config.on_output != nullptr,
                               random_lease_secret(), config.tag,
                               config.keep_order, config.reorder_buffer},
                  static_cast<SinkEffects&>(*this), Clock::now());
    if (journal_) journal_->replay([&](const Message& record) { core_->replay(record); });
    core_->replay_done(Clock::now());
    log_line("collecting results at " + bound);
    if (config.on_bound) config.on_bound(bound);
  }

  int run() {
    int signals_seen = 0;
    const auto started = Clock::now();
    while (!core_->exit_status()) {
      const auto now = Clock::now();
      const int requests = config_.stop_requests ? config_.stop_requests() : stop_signals_received();
      for (; signals_seen < requests; ++signals_seen) core_->stop(now);
      std::size_t taken = 0;  // messages and results in this pass
      const bool caught_up = from_peers_.receive_routed(
          peers_,
          [&](const std::string& peer, std::string_view frame, const Message& message) {
            peers_gone_.seen(peer, from_peers_.parts()[1]);
            const PeerIdentity& identity = trust_.of(peer, from_peers_.parts()[1]);
            if (const auto* batch = std::get_if<ResultBatch>(&message)) taken += batch->results.size();
            if (!may_send(identity, message))
              return refused_.reject(std::string(message_name(message)) + " from key '" + identity.name +
                                     "', whose role (" + role_names(identity.roles) + ") may not send it");
            core_->frame(peer, identity, frame, message, Clock::now());
          },
          [&] { return taken++ < taken_per_pass; });
      for (const std::string& peer : peers_gone_.take_gone()) {
        trust_.forget(peer);
        core_->peer_gone(peer, Clock::now());
      }
      // A key removed from the allow-list: its frames are refused above
      // from now on.
      for (const auto& revoked : trust_.take_revoked()) log_line(revoked.line());
      if (journal_) {
        journal_->check();
        journal_->drain_wake();
        core_->journal_synced(journal_->synced(), Clock::now());
      }
      core_->tick(Clock::now(), caught_up);
      if (core_->has_job())
        progress_.update(core_->completed(), core_->total(), core_->failed(), core_->retried(), seconds_since(started));
      if (journal_) time_sync();
      if (metrics_.due(Clock::now())) metrics_.write(exposition(), Clock::now());
      if (core_->exit_status()) break;
      zmq::pollitem_t items[] = {{peers_.handle(), 0, ZMQ_POLLIN, 0},
                                 {peers_gone_.monitor_socket().handle(), 0, ZMQ_POLLIN, 0},
                                 {nullptr, journal_ ? journal_->wake_fd() : -1, ZMQ_POLLIN, 0}};
      poll_sockets(std::span(items, journal_ ? 3 : 2), poll_timeout());
    }
    progress_.clear();
    metrics_.write(exposition(), Clock::now());  // the final counts
    for (const auto& line : core_->summary(Clock::now(), from_peers_.rejected())) log_line(line);
    if (refused_.count() > 0)
      log_line("refused " + std::to_string(refused_.count()) + " message(s) from keys without the role to send them");
    return *core_->exit_status();
  }

 private:
  // Only a ventilator key may define or end the job; results come from
  // worker keys, and from the ventilator for tasks it failed itself.
  static bool may_send(const PeerIdentity& identity, const Message& message) {
    if (std::holds_alternative<ResultBatch>(message)) return identity.may(Role::worker) || identity.may(Role::ventilator);
    return identity.may(Role::ventilator);
  }

  // A pass over the socket ends after about this many messages and results,
  // so that tick() runs while frames keep coming: it sends the acks that
  // free the ventilator's window, asks the journal to sync and writes the
  // output. Taking every frame there was first held acks back for
  // milliseconds at a time: a pass of about four frames of 1024 results ran
  // the 30M-task job at 15.6M tasks/s, against 13.2M.
  static constexpr std::size_t taken_per_pass = 4096;

  static double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
  }

  // One sync timed at a time: from the first request to the journal's
  // saying it holds everything appended by then.
  void time_sync() {
    if (!sync_requested_at_ || journal_->synced() < sync_target_) return;
    sync_seconds_ += std::chrono::duration<double>(Clock::now() - *sync_requested_at_).count();
    ++syncs_;
    sync_requested_at_.reset();
  }

  PrometheusText exposition() const {
    PrometheusText text;
    using Type = PrometheusText::Type;
    text.family("zpipe_sink_tasks_completed_total", Type::counter, "Tasks with a result, ok or failed, in this job")
        .sample(core_->completed());
    text.family("zpipe_sink_tasks_failed_total", Type::counter, "Tasks whose result is a failure").sample(core_->failed());
    text.family("zpipe_sink_tasks_retried_total", Type::counter,
                "Failed attempts that were not final: their tasks were asked for again (--retries)")
        .sample(core_->retried());
    text.family("zpipe_sink_tasks", Type::gauge, "Tasks in the job, once the ventilator knows (0 before)")
        .sample(core_->total().value_or(0));
    text.family("zpipe_sink_duplicates_dropped_total", Type::counter, "Results dropped because the task had one already")
        .sample(core_->duplicates());
    text.family("zpipe_sink_frames_rejected_total", Type::counter, "Frames received and dropped, by reason");
    add_rejection_samples(text, {}, from_peers_.rejected_by_reason());
    text.family("zpipe_sink_output_bytes_total", Type::counter, "Bytes of result lines written").sample(output_bytes_);
    text.family("zpipe_sink_reorder_held", Type::gauge,
                "Results held for --keep-order, waiting for an earlier task's result")
        .sample(core_->reorder_held());
    text.family("zpipe_sink_reorder_held_peak", Type::gauge, "The most results held for --keep-order at once")
        .sample(core_->reorder_peak());
    text.family("zpipe_sink_journal_sync_seconds", Type::summary, "Time from asking the journal to sync to its being durable")
        .sample(sync_seconds_, {}, "_sum")
        .sample(syncs_, {}, "_count");
    return text;
  }

  std::chrono::milliseconds poll_timeout() const {
    const auto until = core_->next_deadline() - Clock::now();
    if (until <= Clock::duration::zero()) return std::chrono::milliseconds(0);
    return std::min(poll_at_most, std::chrono::ceil<std::chrono::milliseconds>(until));
  }

  // SinkEffects
  bool send(std::string_view peer, std::string_view frame) override { return send_to(peers_, peer, frame); }
  void write_output(std::string_view bytes) override {
    output_bytes_ += bytes.size();
    if (config_.on_output) config_.on_output(bytes);
    else write_all(output_ ? output_->fd() : STDOUT_FILENO, bytes);
  }
  void result_recorded(const Result& result, std::string_view worker) override {
    if (task_files_) task_files_->write(result, worker);
  }
  void attempt_failed(const Result& result, std::string_view worker) override {
    if (task_files_) task_files_->write_attempt(result, worker);
  }
  void journal_append(std::string_view frame) override { journal_->append(frame); }
  void journal_sync() override {
    journal_->request_sync();
    if (!sync_requested_at_) {
      sync_requested_at_ = Clock::now();
      sync_target_ = journal_->appended();
    }
  }
  void log(std::string_view line) override { log_line(line); }

  const SinkConfig& config_;
  ProgressLine progress_;
  zmq::context_t context_{1};
  std::optional<ZapAuthenticator> zap_;  // before the socket: it must answer before it binds
  zmq::socket_t peers_;
  PeerConnections peers_gone_{context_, peers_, "sink socket"};  // the socket's one monitor
  std::optional<LockedFile> output_;
  std::optional<Journal> journal_;
  std::optional<TaskFiles> task_files_;
  std::optional<SinkCore> core_;
  FrameReceiver from_peers_{"frame"};
  PeerTrust trust_;
  RejectionLog refused_{"message", 10, "refused"};
  MetricsFile metrics_{config_.metrics_file};
  std::uint64_t output_bytes_ = 0;
  std::optional<Clock::time_point> sync_requested_at_;
  std::uint64_t sync_target_ = 0;
  std::uint64_t syncs_ = 0;
  double sync_seconds_ = 0;
};

}  // namespace

int run_sink(const SinkConfig& config) { return SinkProgram(config).run(); }

}  // namespace zpipe
