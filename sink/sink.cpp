// The sink's loop.
//
// Socket:
//   peers  ROUTER, binds --bind. From the ventilator: job manifests (answered
//          with job_accepted or job_refused) and results of tasks it could not
//          send. From workers: results. To the ventilator: acks of the task
//          ids that have a result, gathered for a few milliseconds; with a
//          journal, only once those results are synced to it.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "job_ledger.hpp"
#include "journal.hpp"
#include "progress.hpp"
#include "result_writer.hpp"
#include "sink.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"
#include "zpipe/connection_monitor.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/zap_authenticator.hpp"

namespace zpipe {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto ack_interval = std::chrono::milliseconds(20);
constexpr std::size_t ack_ranges_at_most = 4096;
constexpr auto ventilator_wait = std::chrono::seconds(3);
constexpr auto journal_sync_interval = std::chrono::milliseconds(20);

bool progress_wanted(ProgressMode mode) {
  if (mode == ProgressMode::always) return true;
  return mode == ProgressMode::automatic && ::isatty(STDERR_FILENO) == 1;
}

std::string rate_text(std::uint64_t tasks, double seconds) {
  char text[64];
  const double rate = seconds > 0 ? static_cast<double>(tasks) / seconds : 0;
  if (rate >= 1e6) std::snprintf(text, sizeof text, "%.2fM tasks/s", rate / 1e6);
  else std::snprintf(text, sizeof text, "%.0f tasks/s", rate);
  return text;
}

class Sink {
 public:
  explicit Sink(const SinkConfig& config)
      : config_(config),
        writer_(config.format, config.output),
        progress_(progress_wanted(config.progress)),
        peers_(open_socket(context_, zmq::socket_type::router)) {
    if (!config.journal.empty()) open_journal();
    if (config.curve.enabled()) {
      zap_.emplace(context_, config.curve.allow_keys_dir);
      make_curve_server(peers_, *config.curve.own);
    } else {
      check_plaintext_bind(config.bind, config.curve, "bind");
    }
    const std::string bound = bind_endpoint(peers_, config.bind, "bind");
    log_line("collecting results at " + bound);
  }

  int run() {
    while (!stop_requested()) {
      peer_link_.poll_handshakes();  // logs refused and broken connections
      zmq::pollitem_t items[] = {{peers_.handle(), 0, ZMQ_POLLIN, 0}};
      if (!poll_sockets(items, std::chrono::milliseconds(ledger_ ? 20 : 100))) continue;
      receive();
      // Output is written when a burst is over, so a slow job's results
      // appear as they come and a fast one's go out in large writes.
      writer_.flush();
      if (journal_ && journal_->synced() < journal_->appended() && Clock::now() - last_sync_ >= journal_sync_interval)
        sync_journal();
      send_acks_when_due();
      if (ledger_) progress_.update(ledger_->completed(), ledger_->total(), seconds());
      if (ledger_ && ledger_->complete()) {
        sync_journal();
        if (ventilator_told_or_given_up()) {
          send_acks_when_due(true);
          return summarize(true);
        }
      }
    }
    return summarize(false);
  }

 private:
  void receive() {
    while (const std::size_t count = receive_parts(peers_, parts_)) {
      try {
        if (count != 2) throw codec_error("expected 1 frame, got " + std::to_string(count - 1));
        Message message = decode(view(parts_[1]));
        if (auto* results = std::get_if<ResultBatch>(&message)) take_results(*results);
        else if (const auto* manifest = std::get_if<JobManifest>(&message)) take_manifest(*manifest);
        else throw codec_error("unexpected " + std::string(message_name(message)) + " message");
      } catch (const codec_error& e) {
        rejections_.reject(e.what());
      }
    }
  }

  void take_manifest(const JobManifest& manifest) {
    const std::string peer(view(parts_[0]));
    if (const auto refusal = refusal_of(manifest)) {
      encode(JobRefused{manifest.job, *refusal}, frame_);
      send_to(peers_, peer, frame_);
      return;
    }
    if (!ledger_) start_job(manifest);
    if (manifest.total && !ledger_->total()) {
      if (!ledger_->set_total(*manifest.total))
        throw codec_error("job total " + std::to_string(*manifest.total) + " is below task ids already done");
      if (journal_) journal_->append(current_manifest());
      sync_journal();  // the job must be known before anything of it is acknowledged
    }
    encode(JobAccepted{job_, ledger_->total(), ledger_->completed()}, frame_);
    if (peer == ventilator_) {
      send_to(peers_, peer, frame_);
      return;
    }
    // A ventilator new to us (the first, or one that restarted) learns all
    // the sink holds, so it deals none of that again.
    ventilator_ = peer;
    sync_journal();
    send_to(peers_, peer, frame_);
    pending_acks_.take();
    send_acks(ledger_->done_ranges());
  }

  // Why a manifest cannot be taken, or nullopt when it can.
  std::optional<std::string> refusal_of(const JobManifest& manifest) const {
    if (!ledger_) {
      if (manifest.acknowledged == 0) return std::nullopt;
      return "the ventilator has " + std::to_string(manifest.acknowledged) +
             " result(s) acknowledged by an earlier sink and this sink has none: restart the sink with that sink's "
             "--journal, or start the job afresh";
    }
    if (manifest.job == job_) return std::nullopt;
    const bool same_input = !fingerprint_.empty() && manifest.fingerprint == fingerprint_;
    if (manifest.resume && same_input) return std::nullopt;
    if (manifest.resume)
      return "this sink holds job " + std::to_string(job_) + " of another input (fingerprint " + fingerprint_ +
             ", yours is " + manifest.fingerprint + "): the input changed since that job started, so it cannot be "
             "resumed; start a new job, with a new sink or journal";
    return "this sink is collecting job " + std::to_string(job_) +
           (same_input ? " of this same input; add --resume to continue it" : "; start another sink for another job");
  }

  void start_job(const JobManifest& manifest) {
    job_ = manifest.job;
    kind_ = manifest.kind;
    fingerprint_ = manifest.fingerprint;
    ledger_.emplace(manifest.total);
    started_ = Clock::now();
    log_line("job " + std::to_string(job_) + " (" + manifest.kind + ", " +
             (manifest.total ? std::to_string(*manifest.total) + " tasks" : "size not known yet") + ") started");
    if (journal_) journal_->append(current_manifest());
    sync_journal();  // the job must be known before anything of it is acknowledged
  }

  JobManifest current_manifest() const { return JobManifest{job_, kind_, ledger_->total(), fingerprint_, false, 0}; }

  void open_journal() {
    std::uint64_t replayed = 0;
    journal_.emplace(config_.journal);
    journal_->replay([&](const Message& message) {
      if (const auto* manifest = std::get_if<JobManifest>(&message)) {
        if (!ledger_) {
          job_ = manifest->job;
          kind_ = manifest->kind;
          fingerprint_ = manifest->fingerprint;
          ledger_.emplace(manifest->total);
        } else if (manifest->total && !ledger_->total()) {
          ledger_->set_total(*manifest->total);
        }
      } else if (const auto* results = std::get_if<ResultBatch>(&message)) {
        for (const Result& result : results->results) {
          if (ledger_->record(result.id, result.ok) != JobLedger::Outcome::recorded) continue;
          ++replayed;
          ++tasks_by_worker_[results->worker];
          if (!config_.output.empty()) writer_.write(result, results->worker);
        }
      }
    });
    started_ = Clock::now();
    if (!ledger_) return;
    log_line("journal " + config_.journal + ": taking up job " + std::to_string(job_) + " with " +
             std::to_string(replayed) + " result(s) " +
             (config_.output.empty() ? "already printed by an earlier sink" : "written again to " + config_.output));
  }

  void sync_journal() {
    if (!journal_) return;
    // Waits for the writer thread: this loop still syncs as it did before the
    // journal wrote on a thread of its own.
    journal_->request_sync();
    while (journal_->synced() < journal_->appended()) {
      journal_->check();
      pollfd wake{journal_->wake_fd(), POLLIN, 0};
      ::poll(&wake, 1, 1000);
      journal_->drain_wake();
    }
    journal_->check();
    last_sync_ = Clock::now();
    for (const auto& [first, last] : unsynced_acks_.take()) pending_acks_.add(first, last);
  }

  void take_results(const ResultBatch& batch) {
    if (!ledger_ || batch.job != job_)
      throw codec_error("results for job " + std::to_string(batch.job) +
                        (ledger_ ? ", not this sink's job " + std::to_string(job_) : " before any job manifest"));
    std::uint64_t recorded = 0;
    AckRanges& acks = journal_ ? unsynced_acks_ : pending_acks_;
    // The journal keeps only new results. Usually every result is new, and
    // the frame as received is the record; the new ones are copied out only
    // from the first result that is not.
    bool all_new = true;
    journaled_.results.clear();
    for (std::size_t i = 0; i < batch.results.size(); ++i) {
      const Result& result = batch.results[i];
      const auto outcome = ledger_->record(result.id, result.ok);
      if (outcome != JobLedger::Outcome::recorded && all_new) {
        all_new = false;
        if (journal_) journaled_.results.assign(batch.results.begin(), batch.results.begin() + static_cast<std::ptrdiff_t>(i));
      }
      switch (outcome) {
        case JobLedger::Outcome::recorded:
          writer_.write(result, batch.worker);
          acks.add(result.id);
          if (journal_ && !all_new) journaled_.results.push_back(result);
          ++recorded;
          break;
        case JobLedger::Outcome::duplicate:
          ++duplicates_;
          // Acknowledged again: the ventilator may have missed the first ack.
          acks.add(result.id);
          break;
        case JobLedger::Outcome::out_of_range:
          rejections_.reject("task id " + std::to_string(result.id) + " is outside the job");
          break;
      }
    }
    if (recorded == 0) return;
    tasks_by_worker_[batch.worker] += recorded;
    if (!journal_) return;
    if (all_new) {
      journal_->append(view(parts_[1]));
      return;
    }
    journaled_.job = job_;
    journaled_.worker = batch.worker;
    encode(journaled_, frame_);
    journal_->append(frame_);
  }

  // A restarted sink can complete a job from the results workers still had
  // queued before the ventilator is back in touch; it waits a little for the
  // ventilator's manifest, answered with every ack, so that the ventilator
  // also learns the job is complete.
  bool ventilator_told_or_given_up() {
    if (!ventilator_.empty()) return true;
    const auto now = Clock::now();
    if (!complete_at_) complete_at_ = now;
    return now - *complete_at_ >= ventilator_wait;
  }

  void send_acks_when_due(bool now = false) {
    if (pending_acks_.empty() || ventilator_.empty()) return;
    if (!now && pending_acks_.size() < ack_ranges_at_most && Clock::now() - last_ack_ < ack_interval) return;
    send_acks(pending_acks_.take());
    last_ack_ = Clock::now();
  }

  // Sends `ranges` to the ventilator in frames of at most ack_ranges_at_most
  // ranges, the most a decoder takes. What its queue has no room for stays
  // pending: a lost ack would leave its tasks in flight for ever. (A ventilator
  // that disconnected comes back as a new peer and is sent every ack anyway.)
  void send_acks(const std::vector<std::pair<TaskId, TaskId>>& ranges) {
    for (std::size_t at = 0; at < ranges.size(); at += ack_ranges_at_most) {
      const auto first = ranges.begin() + static_cast<std::ptrdiff_t>(at);
      const auto end = ranges.begin() + static_cast<std::ptrdiff_t>(std::min(ranges.size(), at + ack_ranges_at_most));
      encode(Ack{job_, {first, end}}, frame_);
      if (!send_to(peers_, ventilator_, frame_)) {
        for (auto unsent = first; unsent != ranges.end(); ++unsent) pending_acks_.add(unsent->first, unsent->second);
        return;
      }
    }
  }

  double seconds() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }

  int summarize(bool complete) {
    progress_.clear();
    writer_.flush();
    if (!ledger_) {
      log_line("stopped by signal before any job arrived");
      return exit_interrupted;
    }
    const double elapsed = seconds();
    const std::string total = ledger_->total() ? std::to_string(*ledger_->total()) : "?";
    char seconds_text[32];
    std::snprintf(seconds_text, sizeof seconds_text, "%.3f s", elapsed);
    log_line(std::string(complete ? "job " : "stopped by signal; job ") + std::to_string(job_) +
             (complete ? " complete: " : ": ") + std::to_string(ledger_->completed()) + " of " + total + " tasks, " +
             std::to_string(ledger_->ok()) + " ok, " + std::to_string(ledger_->failed()) + " failed, in " +
             seconds_text + " (" + rate_text(ledger_->completed(), elapsed) + ")");
    log_line("duplicates dropped: " + std::to_string(duplicates_) + ", frames rejected: " +
             std::to_string(rejections_.count()));
    std::string per_worker;
    for (const auto& [worker, tasks] : tasks_by_worker_)
      per_worker += (per_worker.empty() ? "" : ", ") + worker + " " + std::to_string(tasks);
    log_line("tasks per worker: " + (per_worker.empty() ? std::string("none") : per_worker));
    if (!complete) return exit_interrupted;
    return ledger_->failed() == 0 ? exit_ok : exit_tasks_failed;
  }

  const SinkConfig& config_;
  ResultWriter writer_;
  ProgressLine progress_;
  zmq::context_t context_{1};
  std::optional<ZapAuthenticator> zap_;  // before the socket: it must answer before it binds
  zmq::socket_t peers_;
  ConnectionMonitor peer_link_{peers_, "sink socket"};
  std::optional<JobLedger> ledger_;
  std::optional<Journal> journal_;
  ResultBatch journaled_;   // the results of one frame that were new
  AckRanges unsynced_acks_;  // recorded, not yet synced to the journal
  JobId job_ = 0;
  std::string kind_;
  std::string fingerprint_;
  std::string ventilator_;
  AckRanges pending_acks_;
  Clock::time_point last_ack_{};
  Clock::time_point last_sync_{};
  std::optional<Clock::time_point> complete_at_;
  Clock::time_point started_{};
  std::uint64_t duplicates_ = 0;
  std::map<std::string, std::uint64_t, std::less<>> tasks_by_worker_;
  std::vector<zmq::message_t> parts_;
  std::string frame_;
  RejectionLog rejections_{"frame"};
};

}  // namespace

int run_sink(const SinkConfig& config) { return Sink(config).run(); }

}  // namespace zpipe
