// See ventilator_core.hpp.
#include "zpipe/ventilator_core.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <variant>

#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/lease.hpp"
#include "zpipe/log.hpp"

namespace zpipe {
namespace {

constexpr auto expiry_check_interval = std::chrono::milliseconds(100);
constexpr auto hello_again_interval = std::chrono::seconds(1);
constexpr auto stranger_grace = std::chrono::milliseconds(250);
constexpr std::size_t hello_again_peers_at_most = 4096;
// Failures reported to the sink in one frame, well inside max_items.
constexpr std::size_t failures_per_frame = 4096;

// Bytes a task adds to a tasks frame, at most: its payload, its id, its
// attempt and a lease of its own.
std::size_t task_bytes(const Task& task) {
  const auto* text = std::get_if<std::string>(&task.payload);
  return (text == nullptr ? 9 : text->size() + 5) + 64;
}

}  // namespace

VentilatorCore::VentilatorCore(VentilatorSettings settings, std::unique_ptr<TaskSource> source,
                               VentilatorEffects& effects, TimePoint now)
    : settings_(std::move(settings)), source_(std::move(source)), effects_(effects), started_(now) {
  manifest_.job = settings_.job;
  manifest_.kind = settings_.kind;
  manifest_.total = source_->known_total();
  manifest_.fingerprint = source_->fingerprint().value_or("");
  manifest_.resume = settings_.resume;
  manifest_.retries = settings_.retries;
  manifest_.halt = settings_.halt;
  manifest_.window = std::min(settings_.max_in_flight, settings_.max_held_per_worker);
  if (settings_.resume) {
    manifest_.resume_token = settings_.resume_token;
    manifest_.resume_failed = settings_.resume_failed;
  }
  batch_.kind = settings_.kind;
  bundle_.kind = settings_.kind;
  // Small frames go to one worker a few in a row, so that one lease covers
  // about run_tasks of its ids; large frames are a run each already.
  workers_.deal_in_runs_of(
      static_cast<std::uint32_t>(std::max<std::uint64_t>(1, run_tasks / std::max<std::uint64_t>(1, settings_.batch))));
  next_send_ = now;
  next_waiting_line_ = now + waiting_line_interval;
  next_expiry_check_ = now + expiry_check_interval;
  progress_samples_.push_back({now, 0});
}

void VentilatorCore::worker_frame(const std::string& peer, const PeerIdentity& identity, const Message& message,
                                  TimePoint now) {
  if (const auto* hello = std::get_if<Hello>(&message)) take_hello(peer, identity, *hello, now);
  else if (const auto* credit = std::get_if<Credit>(&message)) take_credit(peer, *credit, now);
  else throw codec_error("unexpected " + std::string(message_name(message)) + " message from a worker");
}

void VentilatorCore::take_hello(const std::string& peer, const PeerIdentity& identity, const Hello& hello,
                                TimePoint now) {
  if (phase_ == Phase::ending || phase_ == Phase::cancelling || phase_ == Phase::done) {
    // A worker that joins a job that is over is told so at once.
    tell_worker(peer, JobEnd{manifest_.job, end_complete_});
    return;
  }
  const auto known = workers_.find(peer);
  // A hello from a worker we know means it dropped what it held.
  if (known) take_back(*known, "said hello again", false);
  // A worker that proved a key is known by its key's name; the name it
  // chose is only mentioned. A hello without kinds is an older worker's:
  // it runs every kind.
  const std::string chosen = printable(hello.worker, WorkerPool::max_name_bytes);
  const bool runs_kind = !hello.kinds || std::find(hello.kinds->begin(), hello.kinds->end(), settings_.kind) !=
                                             hello.kinds->end();
  WorkerState& worker = workers_.at(workers_.hello(peer, identity.authenticated() ? identity.name : hello.worker,
                                                   hello.window, now, runs_kind,
                                                   hello.kinds.value_or(std::vector<std::string>{})));
  worker.key = identity.key;
  worker.bundle = std::max<std::uint32_t>(1, hello.bundle);
  worker.host = printable(identity.address, WorkerPool::max_name_bytes);
  strangers_.erase(peer);
  departed_.erase(peer);
  if (known) return;
  std::string line = "worker " + worker.name +
                     (identity.authenticated() && chosen != worker.name ? " ('" + chosen + "')" : "") + " joined (" +
                     std::to_string(workers_.alive()) + " now)";
  if (!runs_kind) {
    std::string listed;
    for (const auto& kind : *worker.kinds) listed += (listed.empty() ? "" : ", ") + kind;
    line += " but does not run kind '" + printable(settings_.kind, 256) + "' (it runs: " +
            (listed.empty() ? "no kind" : listed) + "); it is dealt nothing";
  }
  effects_.log(line);
}

// A job no connected worker can run would otherwise wait in silence (or,
// before kinds were negotiated, fail every task): say so every 10 s, and
// give up after --kind-timeout. No worker at all is not this case: workers
// may start after the ventilator.
void VentilatorCore::watch_kind(TimePoint now) {
  if (workers_.alive() == 0 || workers_.running_kind() > 0) {
    kind_missing_since_.reset();
    // Workers that lack the kind do not count toward --min-workers: say
    // what dealing waits for, or a mixed pool seems stuck.
    if (!dealing_started_ && workers_.running_kind() > 0 && workers_.running_kind() < settings_.min_workers &&
        workers_.running_kind() < workers_.alive() && now >= next_kind_line_) {
      next_kind_line_ = now + waiting_line_interval;
      effects_.log("waiting for --min-workers " + std::to_string(settings_.min_workers) + " workers that run kind '" +
                   printable(settings_.kind, 256) + "': " + std::to_string(workers_.running_kind()) + " of the " +
                   std::to_string(workers_.alive()) + " connected do");
    }
    return;
  }
  if (!kind_missing_since_) {
    kind_missing_since_ = now;
    next_kind_line_ = now;
  }
  const std::string kind = printable(settings_.kind, 256);
  if (settings_.kind_timeout.count() > 0 && now - *kind_missing_since_ >= settings_.kind_timeout) {
    effects_.log("no worker that runs kind '" + kind + "' joined within --kind-timeout (" +
                 std::to_string(settings_.kind_timeout.count() / 1000) + " s); cancelling the job");
    cancelled_status_ = exit_runtime;
    begin_end(false, now);
    if (!accepted_ && sink_holds_ == 0 && !dealing_started_) finish(cancelled_status_);
    return;
  }
  if (now < next_kind_line_) return;
  next_kind_line_ = now + waiting_line_interval;
  effects_.log("no worker runs kind '" + kind + "'; " + std::to_string(workers_.alive()) +
               " connected run: " + workers_.kinds_listed() +
               (settings_.kind == "exec" ? " (a worker runs exec only when started with --allow-exec)" : ""));
}

void VentilatorCore::take_credit(const std::string& peer, const Credit& credit, TimePoint now) {
  if (workers_.credit(peer, credit.batches, now)) return;
  // A worker we took for gone, one of a ventilator before us, or one that has
  // not yet heard the job is over: told again at most once a second, so a
  // stream of credits does not become a stream of answers.
  if (strangers_.size() >= hello_again_peers_at_most) strangers_.clear();
  Stranger& stranger = strangers_.try_emplace(peer, Stranger{now, std::nullopt}).first->second;
  if (now - stranger.first_seen < stranger_grace) return;
  if (stranger.answered && now - *stranger.answered < hello_again_interval) return;
  stranger.answered = now;
  if (phase_ == Phase::ending || phase_ == Phase::cancelling || phase_ == Phase::done)
    tell_worker(peer, JobEnd{manifest_.job, end_complete_});
  else
    tell_worker(peer, HelloAgain{});
}

void VentilatorCore::worker_gone(const std::string& peer, TimePoint) {
  strangers_.erase(peer);
  departed_.erase(peer);
  const auto slot = workers_.find(peer);
  if (!slot) return;
  if (phase_ != Phase::waiting_for_sink && phase_ != Phase::dealing) {
    workers_.remove(*slot);  // told the job is over, it left
    return;
  }
  ++workers_lost_;
  drop_worker(*slot, "closed its connection", true);
}

std::uint64_t VentilatorCore::worker_revoked(const std::string& peer, TimePoint) {
  const auto slot = workers_.find(peer);
  if (!slot) return 0;
  // Not the tasks' fault: their attempts are not counted.
  const std::uint64_t redealt = take_back(*slot, "lost its worker role in the allow-list", false, false);
  workers_.remove(*slot);
  return redealt;
}

void VentilatorCore::drop_worker(std::uint32_t slot, std::string_view why, bool lost) {
  take_back(slot, why, lost);
  workers_.remove(slot);
}

// Deals a worker's tasks again. When the worker was lost (not merely
// reset), each of its tasks counts a loss. A loss in a shared backlog may
// not be the task's fault, so a task one loss short of --max-attempts is a
// suspect: it is dealt alone to an idle worker, and only a loss there can
// fail it. That fails a poison task without failing its neighbours.
// Returns the tasks dealt again; logs them unless the caller does.
std::uint64_t VentilatorCore::take_back(std::uint32_t slot, std::string_view why, bool lost, bool logged) {
  WorkerState& worker = workers_.at(slot);
  const bool was_isolating = std::exchange(worker.isolating, false);
  const auto ids = in_flight_.release(slot);
  worker.tasks_held = 0;
  workers_.may_be_ready(slot);
  if (ids.empty() && !lost) return 0;
  std::uint64_t failed = 0;
  for (const TaskId id : ids) {
    const std::uint32_t losses = lost ? in_flight_.lost(id) : in_flight_.losses(id);
    if (lost && was_isolating && losses >= settings_.max_attempts) {
      ++failed;
      fail_task(id, "lost with " + std::to_string(losses) + " workers, the last of which (" + worker.name + ", " +
                        std::string(why) + ") ran it alone; not tried again");
    } else {
      queue(id);
    }
  }
  redealt_ += ids.size() - failed;
  if (logged)
    effects_.log("worker " + worker.name + " " + std::string(why) + ": dealing its " +
                 std::to_string(ids.size() - failed) + " task(s) again" +
                 (failed > 0 ? ", " + std::to_string(failed) + " failed after too many attempts" : ""));
  send_failures();
  return ids.size() - failed;
}

// A task to deal again; `failed_on` names the worker whose failure of it
// the sink retries, which it is dealt to only when no other is ready.
void VentilatorCore::queue(TaskId id, InFlightTable::Holder failed_on) {
  if (in_flight_.state(id) != InFlightTable::State::waiting || in_flight_.queued(id)) return;
  in_flight_.set_queued(id, true);
  const std::uint32_t losses = in_flight_.losses(id);
  if (losses > 0 && losses + 1 >= settings_.max_attempts) suspects_.push_back(id);
  else if (failed_on != InFlightTable::no_holder) to_retry_.emplace_back(id, failed_on);
  else to_redeal_.push_back(id);
}

void VentilatorCore::sink_connected(TimePoint now) {
  next_send_ = now;
  if (++sink_handshakes_ > 1 && phase_ == Phase::halting) {
    // Results on their way to the sink may be lost with the link, so what
    // workers hold may never be acknowledged: the halt ends the job now.
    effects_.log("link to the sink is back while halting; ending the job now");
    begin_end(false, now);
    return;
  }
  if (sink_handshakes_ == 1 || phase_ != Phase::dealing) return;
  // A new handshake means the sink restarted or the link came back: what
  // was on its way may be lost, so the sink must accept the job again and
  // say what it holds before dealing goes on.
  effects_.log("link to the sink is back; sending the manifest again");
  accepted_ = false;
  redeal_after_sync_ = true;
}

void VentilatorCore::sink_frame(const Message& message, TimePoint now) {
  if (const auto* accepted = std::get_if<JobAccepted>(&message)) take_acceptance(*accepted);
  else if (const auto* refused = std::get_if<JobRefused>(&message))
    throw std::runtime_error("the sink refused job " + std::to_string(refused->job) + ": " + refused->reason);
  else if (const auto* ack = std::get_if<Ack>(&message)) take_ack(*ack, now);
  else if (const auto* end = std::get_if<JobEnd>(&message)) take_job_end(*end);
  else if (const auto* retry = std::get_if<Retry>(&message)) take_retry(*retry);
  else if (const auto* halt = std::get_if<Halt>(&message)) take_halt(*halt, now);
  else throw codec_error("unexpected " + std::string(message_name(message)) + " message from the sink");
}

// The sink decides which failures are final (it knows --retries from the
// manifest) and asks again for the others. Only a task still in flight at
// exactly the attempt that failed is taken back: a retry that is stale (the
// task was retried already, or is done) or repeated is ignored, so each
// failed attempt is followed by at most one more.
void VentilatorCore::take_retry(const Retry& retry) {
  if (retry.job != manifest_.job) throw codec_error("retry for another job");
  if (retry.attempts.size() != retry.ids.size()) throw codec_error("retry.attempts and retry.ids differ in length");
  for (std::size_t i = 0; i < retry.ids.size(); ++i) {
    const TaskId id = retry.ids[i];
    const auto state = in_flight_.state(id);
    if ((state != InFlightTable::State::held && state != InFlightTable::State::waiting) ||
        in_flight_.attempt(id) != retry.attempts[i])
      continue;
    InFlightTable::Holder failed_on = InFlightTable::no_holder;
    if (state == InFlightTable::State::held) {
      failed_on = in_flight_.holder(id);
      in_flight_.release_one(id, failed_on);
      WorkerState& worker = workers_.at(failed_on);
      if (--worker.tasks_held == 0) worker.isolating = false;
      workers_.may_be_ready(failed_on);
    }
    in_flight_.retried(id);
    ++retried_;
    queue(id, failed_on);  // a task waiting already is queued already
  }
}

// The sink judges --halt (it alone knows what failed) and says so; it says
// it again with every manifest it answers while the condition holds, so a
// repeated halt changes nothing. A job with every task acknowledged is
// complete, whatever the sink said.
void VentilatorCore::take_halt(const Halt& halt, TimePoint now) {
  if (halt.job != manifest_.job) throw codec_error("halt for another job");
  const bool going = phase_ == Phase::waiting_for_sink || phase_ == Phase::dealing || phase_ == Phase::halting;
  if (!going || all_acknowledged()) return;
  if (!halted_)
    effects_.log("the sink halts the job: " + printable(halt.reason, 512) +
                 (halt.now ? "; cancelling what workers hold"
                           : "; dealing nothing more, waiting for the " + std::to_string(held_by_workers()) +
                                 " task(s) workers hold"));
  halted_ = true;
  halt_reason_ = printable(halt.reason, 512);
  cancelled_status_ = exit_halted;
  if (halt.now) {
    begin_end(false, now);
    return;
  }
  phase_ = Phase::halting;
  end_halt_when_done(now);
}

// --halt soon: the job ends once no worker holds a task of it; tasks that a
// worker lost meanwhile are not dealt again.
void VentilatorCore::end_halt_when_done(TimePoint now) {
  if (phase_ != Phase::halting) return;
  if (all_acknowledged()) {
    begin_end(true, now);
    return;
  }
  if (held_by_workers() > 0) return;
  effects_.log("halted: workers hold no task of the job; ending it with " +
               (remaining_tasks() ? std::to_string(*remaining_tasks()) : std::string("?")) + " task(s) not run");
  begin_end(false, now);
}

std::uint64_t VentilatorCore::held_by_workers() const {
  std::uint64_t held = 0;
  for (const auto& worker : workers_.slots())
    if (worker.alive) held += worker.tasks_held;
  return held;
}

void VentilatorCore::take_acceptance(const JobAccepted& accepted) {
  if (accepted.job != manifest_.job) {
    if (!settings_.resume || accepted_ || phase_ != Phase::waiting_for_sink)
      throw codec_error("job_accepted for another job");
    effects_.log("resuming the sink's job " + std::to_string(accepted.job) + ": it holds " +
                 std::to_string(accepted.completed) + " result(s)");
    manifest_.job = accepted.job;
  } else if (!accepted_ && phase_ == Phase::waiting_for_sink) {
    effects_.log("sink accepted the job");
  }
  if (accepted.lease_secret.size() != lease_secret_bytes)
    throw codec_error("job_accepted.lease_secret must have " + std::to_string(lease_secret_bytes) + " bytes");
  lease_secret_ = accepted.lease_secret;
  // A sink with --keep-order holds each result until every earlier id has
  // one: dealing no id more than its buffer past the lowest one not
  // acknowledged bounds what it holds (§6.8). A sink that restarted says
  // it again, perhaps with another size.
  if (accepted.reorder_buffer != reorder_buffer_) {
    reorder_buffer_ = accepted.reorder_buffer;
    if (reorder_buffer_ > 0 && reorder_buffer_ + 1 < settings_.max_in_flight)
      effects_.log("the sink keeps order with a buffer of " + std::to_string(reorder_buffer_) +
                   " result(s): dealing at most " + std::to_string(reorder_buffer_ + 1) +
                   " task ids ahead of the oldest one unacknowledged");
  }
  accepted_ = true;
  sink_total_ = accepted.total;
  sink_holds_ = accepted.completed;
  if (phase_ == Phase::waiting_for_sink) phase_ = Phase::dealing;
}

void VentilatorCore::take_ack(const Ack& ack, TimePoint now) {
  if (ack.job != manifest_.job) throw codec_error("ack for another job");
  const TaskId read = in_flight_.read();
  for (auto [first, last] : ack.ranges) {
    if (first <= read)
      in_flight_.acknowledge(first, std::min(last, read), [&](InFlightTable::Holder holder, std::uint64_t tasks) {
        WorkerState& worker = workers_.at(holder);
        workers_.set_stalled(holder, false);  // it delivers after all
        worker.done += tasks;
        done_by_workers_ += tasks;
        worker.tasks_held -= tasks;
        if (worker.tasks_held == 0) worker.isolating = false;
        workers_.may_be_ready(holder);
      });
    if (last > read) not_read_yet_.add(std::max(first, read + 1), last);
  }
  if (now - progress_samples_.back().at >= progress_sample_interval) {
    if (progress_samples_.size() > static_cast<std::size_t>(rate_window / progress_sample_interval)) progress_samples_.pop_front();
    progress_samples_.push_back({now, done_by_workers_});
  }
}

void VentilatorCore::take_job_end(const JobEnd& end) {
  if (end.job != manifest_.job) throw codec_error("job_end for another job");
  if (phase_ == Phase::ending && end.complete) {
    finish(exit_ok);
  } else if (phase_ == Phase::cancelling) {
    effects_.log("the sink has taken note that the job is cancelled");
    finish(cancelled_status_);
  } else {
    throw codec_error("job_end from the sink before the job ended");
  }
}

void VentilatorCore::stop(TimePoint now) {
  if (phase_ == Phase::done) return;
  if (phase_ == Phase::cancelling) {
    effects_.log("second stop signal: exiting without the sink's confirmation");
    finish(exit_interrupted);
    return;
  }
  if (phase_ == Phase::ending) {
    effects_.log("stopped while waiting for the sink to confirm the end of the job; every result was acknowledged");
    finish(exit_ok);
    return;
  }
  effects_.log("stop signal: cancelling the job (a second signal exits at once)");
  begin_end(false, now);
  // A sink that never took the job has nothing to confirm.
  if (!accepted_ && sink_holds_ == 0 && !dealing_started_) finish(exit_interrupted);
}

std::uint64_t VentilatorCore::acknowledged() const {
  return in_flight_.read() - in_flight_.unacknowledged() + not_read_yet_.count() - skipped_;
}

bool VentilatorCore::all_acknowledged() const {
  return accepted_ && manifest_.total && sink_total_ == manifest_.total && acknowledged() >= *manifest_.total;
}

// Deals only once the sink has said what it holds, so nothing it has is
// dealt again on a resume or after it restarted.
bool VentilatorCore::ready_to_deal() {
  if (!accepted_ || acknowledged() < sink_holds_) return false;
  if (redeal_after_sync_) {
    redeal_after_sync_ = false;
    for (const auto& worker : workers_.slots()) {
      if (!worker.alive) continue;
      const std::uint32_t slot = workers_.slot_of(worker);
      WorkerState& state = workers_.at(slot);
      state.tasks_held = 0;
      state.isolating = false;
      workers_.may_be_ready(slot);
    }
    const auto ids = in_flight_.release_all();
    for (const TaskId id : ids) queue(id);
    if (!ids.empty()) effects_.log("dealing " + std::to_string(ids.size()) + " unacknowledged task(s) again");
    // Failures the last sink may not have kept are reported again.
    for (const TaskId id : in_flight_.failed_ids()) {
      failures_.results.push_back(Result{id, false, in_flight_.payload(id)});
      if (failures_.results.size() >= failures_per_frame) send_failures();
    }
    send_failures();
  }
  if (dealing_started_) return true;
  if (workers_.running_kind() < settings_.min_workers) return false;
  dealing_started_ = true;
  effects_.log("dealing to " + std::to_string(workers_.running_kind()) + " worker(s)");
  return true;
}

// Deals each suspect task alone to a worker that holds nothing else.
void VentilatorCore::deal_suspects(TimePoint now) {
  while (!suspects_.empty()) {
    const TaskId id = suspects_.front();
    if (in_flight_.state(id) != InFlightTable::State::waiting) {
      suspects_.pop_front();
      in_flight_.set_queued(id, false);
      continue;
    }
    WorkerState* worker = workers_.idle_worker();
    if (worker == nullptr) return;
    const std::uint32_t slot = workers_.slot_of(*worker);
    suspects_.pop_front();
    in_flight_.set_queued(id, false);
    start_batch();
    add_to_batch(id, in_flight_.payload(id), in_flight_.attempt(id));
    sign(*worker, batch_, now);
    encode(batch_, frame_);
    if (!send_frame_to(worker->routing_id)) {
      queue(id);
      ++workers_lost_;
      drop_worker(slot, "cannot be sent its task (its connection closed)", true);
      continue;
    }
    in_flight_.hold(id, slot);
    ++dealt_;
    worker->tasks_held = 1;
    worker->isolating = true;
    --worker->credits;
  }
}

// Deals each retried task to a worker other than the one that failed it,
// where another is ready (as parallel --retries does with several hosts),
// in a frame topped up with other tasks.
void VentilatorCore::deal_retries(TimePoint now, std::uint64_t held_at_most) {
  while (!to_retry_.empty()) {
    const auto [id, failed_on] = to_retry_.front();
    if (in_flight_.state(id) != InFlightTable::State::waiting) {
      to_retry_.pop_front();
      in_flight_.set_queued(id, false);
      continue;
    }
    WorkerState* worker = workers_.next_to_deal(remaining_tasks(), held_at_most, failed_on);
    if (worker == nullptr) return;
    const std::uint32_t slot = workers_.slot_of(*worker);
    start_batch();
    // With this one go the retries behind it that this worker did not fail.
    while (batch_has_room() && !to_retry_.empty()) {
      const auto [next, avoid] = to_retry_.front();
      const bool waiting = in_flight_.state(next) == InFlightTable::State::waiting;
      if (waiting && next != id && avoid == slot) break;
      to_retry_.pop_front();
      in_flight_.set_queued(next, false);
      if (waiting) add_to_batch(next, in_flight_.payload(next), in_flight_.attempt(next));
    }
    top_up_batch();
    send_batch(*worker, now);
  }
}

void VentilatorCore::start_batch() {
  batch_.tasks.clear();
  batch_.attempts.clear();
  batch_bytes_ = 0;
}

// Adds a task to batch_; attempts are listed once one is past the first.
void VentilatorCore::add_to_batch(TaskId id, Value payload, std::uint32_t attempt) {
  if (attempt != 1 && batch_.attempts.empty()) batch_.attempts.assign(batch_.tasks.size(), 1);
  if (attempt != 1 || !batch_.attempts.empty()) batch_.attempts.push_back(attempt);
  batch_.tasks.push_back(Task{id, std::move(payload)});
  batch_bytes_ += task_bytes(batch_.tasks.back());
}

// A frame takes up to --batch tasks, and stops short of that at
// frame_bytes_at_most: 32 lines of 1 MiB in one frame would pass the 16 MiB
// a worker's socket takes, and its connection would be dropped each time
// the frame was dealt again.
bool VentilatorCore::batch_has_room() const {
  return batch_.tasks.size() < settings_.batch && batch_bytes_ < frame_bytes_at_most;
}

// Fills batch_ with tasks to deal again first, then new ones. Returns false
// when there is nothing to deal.
bool VentilatorCore::fill_batch() {
  start_batch();
  return top_up_batch();
}

// Adds to batch_ what fill_batch() would put in it, while it has room.
bool VentilatorCore::top_up_batch() {
  while (batch_has_room() && !to_redeal_.empty()) {
    const TaskId id = to_redeal_.front();
    to_redeal_.pop_front();
    in_flight_.set_queued(id, false);
    if (in_flight_.state(id) == InFlightTable::State::waiting)
      add_to_batch(id, in_flight_.payload(id), in_flight_.attempt(id));
  }
  const std::uint64_t window = reorder_buffer_ > 0 ? std::min(settings_.max_in_flight, reorder_buffer_ + 1)
                                                  : settings_.max_in_flight;
  while (batch_has_room() && in_flight_.span() < window) {
    auto task = source_->next();
    if (!task) {
      waiting_for_input_ = !source_->exhausted();
      break;
    }
    const TaskId id = in_flight_.add(task->payload);
    if (not_read_yet_.take(id)) {
      ++skipped_;
      in_flight_.acknowledge(id, id, [](InFlightTable::Holder, std::uint64_t) {});
    } else if (!task->error.empty()) {
      fail_task(id, std::move(task->error));
    } else {
      add_to_batch(id, std::move(task->payload), 1);
    }
  }
  return !batch_.tasks.empty();
}

// Fills one frame per worker with credit, in turn, until credits, tasks
// or room in the in-flight table run out.
void VentilatorCore::deal(TimePoint now) {
  waiting_for_input_ = false;
  batch_.job = manifest_.job;
  deal_suspects(now);
  const std::uint64_t held_at_most = settings_.max_held_per_worker >= settings_.batch
                                         ? settings_.max_held_per_worker - settings_.batch + 1
                                         : 1;
  deal_retries(now, held_at_most);
  while (WorkerState* worker = workers_.next_to_deal(remaining_tasks(), held_at_most)) {
    if (!fill_batch()) break;
    send_batch(*worker, now);
  }
  send_bundle(now);
  send_failures();
}

// Sends batch_ to `worker`, which then holds its tasks. Returns false when
// it cannot be sent: the worker is dropped, and the tasks wait for others.
// To a worker that takes bundles and is dealt in a row (a deep window), the
// frame joins the bundle that send_bundle() sends: the worker holds its
// tasks from now, as if it had been sent.
bool VentilatorCore::send_batch(WorkerState& worker, TimePoint now) {
  const std::uint32_t slot = workers_.slot_of(worker);
  const std::uint32_t run_frames = workers_.run_frames();
  const std::uint32_t most = std::min(worker.bundle, run_frames);
  const std::size_t bytes = batch_bytes_;
  // Another worker's bundle goes first; so does this worker's when the
  // frame would take it past bundle_bytes_at_most.
  if (bundle_slot_ && (*bundle_slot_ != slot || bundle_bytes_ + bytes > bundle_bytes_at_most)) {
    send_bundle(now);
    if (!worker.alive) {  // it was this worker's, and could not be sent: it is gone
      for (const Task& task : batch_.tasks) queue(task.id);
      return false;
    }
  }
  if (most > 1 && (bundle_slot_ || worker.credits >= 2 * run_frames)) {
    add_to_bundle(worker, bytes);
    if (bundle_.frames >= most || bundle_bytes_ >= bundle_bytes_at_most) send_bundle(now);
    return true;
  }
  sign(worker, batch_, now);
  encode(batch_, frame_);
  if (!send_frame_to(worker.routing_id)) {
    for (const Task& task : batch_.tasks) queue(task.id);
    ++workers_lost_;
    drop_worker(slot, "cannot be sent its tasks (its connection closed)", true);
    return false;
  }
  for (const Task& task : batch_.tasks) in_flight_.hold(task.id, slot);
  dealt_ += batch_.tasks.size();
  worker.tasks_held += batch_.tasks.size();
  --worker.credits;
  return true;
}

// Moves batch_, of `bytes` of payload, into the bundle for `worker`, which
// holds its tasks from now.
void VentilatorCore::add_to_bundle(WorkerState& worker, std::size_t bytes) {
  const std::uint32_t slot = workers_.slot_of(worker);
  bundle_slot_ = slot;
  bundle_bytes_ += bytes;
  if (!batch_.attempts.empty() || !bundle_.attempts.empty()) {
    bundle_.attempts.resize(bundle_.tasks.size(), 1);
    for (std::size_t i = 0; i < batch_.tasks.size(); ++i) bundle_.attempts.push_back(batch_.attempt(i));
  }
  bundle_.frames = bundle_.tasks.empty() ? 1 : bundle_.frames + 1;
  bundle_.job = batch_.job;
  for (Task& task : batch_.tasks) {
    in_flight_.hold(task.id, slot);
    bundle_.tasks.push_back(std::move(task));
  }
  dealt_ += batch_.tasks.size();
  worker.tasks_held += batch_.tasks.size();
  --worker.credits;
}

// Sends the frames send_batch() gathered for one worker as one message,
// signed once. Nothing of it reached the worker when it cannot be sent:
// its tasks wait for others without counting a loss, and the worker is
// dropped.
void VentilatorCore::send_bundle(TimePoint now) {
  if (!bundle_slot_) return;
  const std::uint32_t slot = *std::exchange(bundle_slot_, std::nullopt);
  WorkerState& worker = workers_.at(slot);
  sign(worker, bundle_, now);
  encode(bundle_, frame_);
  if (!send_frame_to(worker.routing_id)) {
    for (const Task& task : bundle_.tasks)
      if (in_flight_.release_one(task.id, slot)) queue(task.id);
    dealt_ -= bundle_.tasks.size();
    ++workers_lost_;
    drop_worker(slot, "cannot be sent its tasks (its connection closed)", true);
  }
  bundle_.tasks.clear();
  bundle_.attempts.clear();
  bundle_.frames = 1;
  bundle_bytes_ = 0;
}

// Leases for the tasks in `batch`, bound to the worker's key; with
// --task-timeout, the worker also keeps when each run was dealt.
void VentilatorCore::sign(WorkerState& worker, TaskBatch& batch, TimePoint now) {
  batch.leases.clear();
  // A frame that goes on from the run this worker was dealt last extends it:
  // every id of the run was dealt to this worker, so the lease is as true.
  const TaskId first_id = batch.tasks.front().id;
  const bool goes_on =
      worker.run_open && worker.run_job == batch.job && worker.run_last != ~TaskId{0} && worker.run_last + 1 == first_id;
  sign_leases(lease_secret_, batch.job, batch.tasks, worker.key, batch.leases,
              goes_on ? worker.run_first : first_id);
  worker.run_open = true;
  worker.run_job = batch.job;
  worker.run_first = batch.leases.back().first;
  worker.run_last = batch.leases.back().last;
  if (settings_.task_timeout.count() == 0) return;
  const std::uint32_t slot = workers_.slot_of(worker);
  auto& maybe_dealt = workers_.at(slot).dealt;
  if (!maybe_dealt) maybe_dealt.emplace();
  auto& dealt = *maybe_dealt;
  // Runs whose tasks were all acknowledged are dropped now and then, so the
  // list follows what the worker holds, not what it was dealt.
  if (dealt.size() > 2 * worker.tasks_held + 64)
    std::erase_if(dealt, [&](const WorkerState::Dealt& run) {
      for (TaskId id = run.first; id <= run.last; ++id)
        if (in_flight_.state(id) == InFlightTable::State::held && in_flight_.holder(id) == slot) return false;
      return true;
    });
  // The runs of this frame's own ids: its first lease may reach back into
  // earlier frames (the others start where their run does; ids dealt again
  // or retried can come before the frame's first id).
  for (std::size_t i = 0; i < batch.leases.size(); ++i)
    dealt.push_back(WorkerState::Dealt{now, i == 0 ? first_id : batch.leases[i].first, batch.leases[i].last});
}

// With --task-timeout: a task a live worker has held too long is dealt
// again and counts an attempt, as if the worker had been lost with it. The
// worker's result, if it ever comes, is then a duplicate or the first.
void VentilatorCore::expire_held_tasks(TimePoint now) {
  if (settings_.task_timeout.count() == 0) return;
  for (const auto& slots = workers_.slots(); const auto& listed : slots) {
    if (!listed.alive) continue;
    const std::uint32_t slot = workers_.slot_of(listed);
    WorkerState& worker = workers_.at(slot);
    std::uint64_t expired = 0, failed = 0;
    while (worker.dealt && !worker.dealt->empty() && now - worker.dealt->front().at >= settings_.task_timeout) {
      const auto [at, first, last] = worker.dealt->front();
      worker.dealt->pop_front();
      for (TaskId id = first; id <= last && first <= last; ++id) {
        if (!in_flight_.release_one(id, slot)) continue;
        ++expired;
        --worker.tasks_held;
        const std::uint32_t attempts = in_flight_.lost(id);
        if (attempts >= settings_.max_attempts) {
          ++failed;
          fail_task(id, "held past --task-timeout " + std::to_string(settings_.task_timeout.count()) + " ms on " +
                            std::to_string(attempts) + " attempts, the last by " + worker.name + "; not tried again");
        } else {
          queue(id);
        }
      }
    }
    if (expired == 0) continue;
    if (worker.tasks_held == 0) worker.isolating = false;
    // Its tasks go to others: a hoarder, or a worker stuck, gets no more
    // until something it holds is acknowledged.
    workers_.set_stalled(slot, true);
    timed_out_ += expired;
    redealt_ += expired - failed;
    effects_.log("worker " + worker.name + " held " + std::to_string(expired) + " task(s) past --task-timeout: dealing " +
                 std::to_string(expired - failed) + " again" +
                 (failed > 0 ? ", " + std::to_string(failed) + " failed after too many attempts" : ""));
  }
  send_failures();
}

// A task the ventilator gives up on (a line too long to send, a task lost
// with too many workers) is reported to the sink as failed, so the job
// still completes and says why.
void VentilatorCore::fail_task(TaskId id, std::string reason) {
  failures_.results.push_back(Result{id, false, reason});
  in_flight_.fail(id, std::move(reason));
  ++failed_;
  if (failures_.results.size() >= failures_per_frame) send_failures();
}

void VentilatorCore::send_failures() {
  if (failures_.results.empty()) return;
  failures_.job = manifest_.job;
  failures_.worker = "ventilator";
  encode(failures_, frame_);
  effects_.send_to_sink(frame_);
  failures_.results.clear();
}

std::optional<std::uint64_t> VentilatorCore::remaining_tasks() const {
  if (!manifest_.total) return std::nullopt;
  return *manifest_.total - std::min(*manifest_.total, acknowledged());
}

void VentilatorCore::send_manifest_when_due(TimePoint now) {
  if (source_->exhausted() && !manifest_.total) manifest_.total = in_flight_.read();
  if (source_->exhausted() && manifest_.fingerprint.empty()) manifest_.fingerprint = source_->fingerprint().value_or("");
  const bool sink_needs_it = !accepted_ || (manifest_.total && sink_total_ != manifest_.total);
  if (!sink_needs_it || now < next_send_) return;
  manifest_.acknowledged = acknowledged();
  encode(manifest_, frame_);
  effects_.send_to_sink(frame_);
  next_send_ = now + resend_interval;
  if (accepted_ || now < next_waiting_line_) return;
  effects_.log("still waiting for the sink at " + settings_.sink_name + " to accept the job: is it running?");
  next_waiting_line_ = now + waiting_line_interval;
}

void VentilatorCore::begin_end(bool complete, TimePoint now) {
  phase_ = complete ? Phase::ending : Phase::cancelling;
  end_complete_ = complete;
  for (const auto& worker : workers_.slots())
    if (worker.alive) tell_worker(worker.routing_id, JobEnd{manifest_.job, complete});
  for (const auto& [peer, since] : departed_) tell_worker(peer, JobEnd{manifest_.job, complete});
  next_send_ = now;
  next_waiting_line_ = now + waiting_line_interval;
  give_up_at_ = now + (complete ? std::chrono::milliseconds(end_wait) : cancel_wait);
  send_end_when_due(now);
}

// job_end goes to the sink until it answers with job_end: only then has it
// surely had every ack, and only then may it exit.
void VentilatorCore::send_end_when_due(TimePoint now) {
  if (now < next_send_) return;
  encode(JobEnd{manifest_.job, end_complete_}, frame_);
  effects_.send_to_sink(frame_);
  next_send_ = now + resend_interval;
  if (now < next_waiting_line_) return;
  effects_.log("waiting for the sink at " + settings_.sink_name + " to confirm the end of job " +
               std::to_string(manifest_.job));
  next_waiting_line_ = now + waiting_line_interval;
}

void VentilatorCore::tick(TimePoint now) {
  switch (phase_) {
    case Phase::done: return;
    case Phase::cancelling:
      send_end_when_due(now);
      if (now >= give_up_at_) {
        effects_.log("the sink did not confirm the cancellation within " + std::to_string(cancel_wait.count()) +
                     " ms; exiting");
        finish(cancelled_status_);
      }
      return;
    case Phase::ending:
      send_end_when_due(now);
      if (now >= give_up_at_) {
        effects_.log("the sink did not answer job_end within " + std::to_string(end_wait.count()) +
                     " s; every result was acknowledged, so the job is complete");
        finish(exit_ok);
      }
      return;
    case Phase::waiting_for_sink:
    case Phase::dealing:
    case Phase::halting: break;
  }
  if (now >= next_expiry_check_) {
    next_expiry_check_ = now + expiry_check_interval;
    for (const auto slot : workers_.silent(now, settings_.worker_timeout)) {
      ++workers_lost_;
      if (departed_.size() >= hello_again_peers_at_most) departed_.clear();
      departed_.emplace(workers_.at(slot).routing_id, now);
      drop_worker(slot, "is silent for " + std::to_string(settings_.worker_timeout.count()) + " ms; taken for gone",
                  true);
    }
    expire_held_tasks(now);
  }
  send_manifest_when_due(now);
  watch_kind(now);
  end_halt_when_done(now);
  if (phase_ != Phase::waiting_for_sink && phase_ != Phase::dealing) return;
  if (ready_to_deal()) deal(now);
  say_what_dealing_waits_for(now);
  if (all_acknowledged()) begin_end(true, now);
}

// A job that cannot go on for want of workers says so every
// waiting_line_interval, so whoever watches the log is never left with
// silence: --min-workers not reached yet, or every worker gone mid-job.
void VentilatorCore::say_what_dealing_waits_for(TimePoint now) {
  const std::size_t alive = workers_.alive();
  // Short of --min-workers in a pool where some lack the kind, watch_kind()
  // says so, with the counts of both.
  const bool too_few = accepted_ && phase_ == Phase::dealing && !all_acknowledged() &&
                       (dealing_started_ ? alive == 0
                                         : alive < settings_.min_workers && workers_.running_kind() == alive);
  if (!too_few) {
    waiting_for_workers_ = false;
    return;
  }
  if (!waiting_for_workers_) {  // the first line comes after a whole interval of waiting
    waiting_for_workers_ = true;
    next_waiting_line_ = now + waiting_line_interval;
    return;
  }
  if (now < next_waiting_line_) return;
  next_waiting_line_ = now + waiting_line_interval;
  const auto left = remaining_tasks();
  const std::string remaining = left ? std::to_string(*left) + " of " + std::to_string(*manifest_.total) + " task(s) to do"
                                     : std::to_string(acknowledged()) + " task(s) done, the job's size not known yet";
  if (!dealing_started_)
    effects_.log("still waiting for workers: " + std::to_string(alive) + " of --min-workers " +
                 std::to_string(settings_.min_workers) + " have said hello; start workers with --ventilator " +
                 "pointing here (" + remaining + ")");
  else
    effects_.log("still waiting for workers: none is connected (" + remaining + ")");
}

VentilatorCore::TimePoint VentilatorCore::next_deadline() const {
  if (phase_ == Phase::done) return TimePoint::max();
  TimePoint deadline = next_send_;
  if (phase_ == Phase::cancelling || phase_ == Phase::ending) deadline = std::min(deadline, give_up_at_);
  if (phase_ == Phase::waiting_for_sink || phase_ == Phase::dealing || phase_ == Phase::halting) {
    const bool manifest_due = !accepted_ || (manifest_.total && sink_total_ != manifest_.total) ||
                              (source_->exhausted() && !manifest_.total);
    if (!manifest_due) deadline = TimePoint::max();
    if (workers_.alive() > 0) deadline = std::min(deadline, next_expiry_check_);
    if (kind_missing_since_) {
      deadline = std::min(deadline, next_kind_line_);
      if (settings_.kind_timeout.count() > 0) deadline = std::min(deadline, *kind_missing_since_ + settings_.kind_timeout);
    }
    if (waiting_for_workers_) deadline = std::min(deadline, next_waiting_line_);
  }
  return deadline;
}

void VentilatorCore::tell_worker(const std::string& peer, const Message& message) {
  encode(message, frame_);
  send_frame_to(peer);
}

// Sends frame_. The effects may take its buffer rather than copy it (a
// large frame); the next frame's buffer is then reserved at this one's
// size, so encoding does not grow it piece by piece.
bool VentilatorCore::send_frame_to(std::string_view peer) {
  const std::size_t size = frame_.size();
  const bool sent = effects_.send_to_worker(peer, frame_);
  frame_.reserve(size);
  return sent;
}

void VentilatorCore::finish(int status) {
  phase_ = Phase::done;
  exit_status_ = status;
}

namespace {
constexpr const char* phase_names[] = {"waiting for the sink", "dealing", "ending", "cancelling", "done", "halting"};
}  // namespace

Status VentilatorCore::status(TimePoint now) const {
  Status status;
  status.job = manifest_.job;
  status.kind = printable(settings_.kind, 256);
  status.phase = phase_names[static_cast<int>(phase_)];
  status.total = manifest_.total ? manifest_.total : sink_total_;
  status.read = in_flight_.read();
  status.acknowledged = acknowledged();
  status.failed = failed_;
  status.in_flight = in_flight_.unacknowledged();
  status.dealt_again = redealt_;
  status.workers_lost = workers_lost_;
  status.retried = retried_;
  const auto millis = [](Clock::duration span) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(span).count()));
  };
  status.elapsed_ms = millis(now - started_);
  // Over the newest samples that span at most rate_window; when none is
  // that recent, since the newest one, so a stalled job's rate falls.
  const ProgressSample* since = &progress_samples_.back();
  for (const ProgressSample& sample : progress_samples_)
    if (now - sample.at <= rate_window) {
      since = &sample;
      break;
    }
  const std::uint64_t span_ms = millis(now - since->at);
  const std::uint64_t acknowledged_since = done_by_workers_ - std::min(done_by_workers_, since->acknowledged);
  status.rate = span_ms > 0 ? acknowledged_since * 1000 / span_ms : 0;
  status.workers = workers_.alive();
  std::vector<const WorkerState*> live;
  live.reserve(workers_.alive());
  for (const WorkerState& worker : workers_.slots())
    if (worker.alive) live.push_back(&worker);
  if (live.size() > Status::max_rows) {
    std::nth_element(live.begin(), live.begin() + Status::max_rows, live.end(),
                     [](const WorkerState* a, const WorkerState* b) { return a->tasks_held > b->tasks_held; });
    live.resize(Status::max_rows);
  }
  status.rows.reserve(live.size());
  for (const WorkerState* worker : live)
    status.rows.push_back(WorkerStatus{worker->name, worker->host, worker->tasks_held, worker->done,
                                       millis(now - worker->last_heard)});
  return status;
}

std::string VentilatorCore::describe() const {
  std::string text = std::string(phase_names[static_cast<int>(phase_)]) + (accepted_ ? ", accepted" : ", not accepted") +
                     ", read " + std::to_string(in_flight_.read()) + (source_->exhausted() ? " (all)" : "") +
                     ", acknowledged " + std::to_string(acknowledged()) + " (sink held " + std::to_string(sink_holds_) +
                     "), unacknowledged " + std::to_string(in_flight_.unacknowledged()) + ", to deal again " +
                     std::to_string(to_redeal_.size()) + ", suspects " + std::to_string(suspects_.size()) +
                     ", to retry " + std::to_string(to_retry_.size()) +
                     ", total " + (manifest_.total ? std::to_string(*manifest_.total) : "?") + "/sink " +
                     (sink_total_ ? std::to_string(*sink_total_) : "?") + "; workers:";
  for (const auto& worker : workers_.slots())
    if (worker.alive)
      text += " " + worker.routing_id + "(credits " + std::to_string(worker.credits) + ", holds " +
              std::to_string(worker.tasks_held) + (worker.isolating ? ", isolating" : "") +
              (worker.stalled ? ", stalled" : "") + (worker.runs_kind ? "" : ", lacks the kind") + ")";
  return text;
}

std::string VentilatorCore::summary(double seconds) const {
  const bool complete = exit_status_ == exit_ok;
  const auto left = remaining_tasks();
  const std::string head = complete  ? "job complete: "
                           : halted_ ? "job halted (" + halt_reason_ + "): "
                                     : "job cancelled: ";
  return head + std::to_string(in_flight_.read()) + " tasks read, " + std::to_string(acknowledged()) +
         " acknowledged, " +
         (halted_ && !complete ? (left ? std::to_string(*left) : std::string("?")) + " not run, " : std::string()) +
         std::to_string(redealt_) +
         " dealt again, " + (settings_.retries > 0 ? std::to_string(retried_) + " retried, " : std::string()) +
         std::to_string(workers_.alive()) + " worker(s) (" + std::to_string(workers_lost_) +
         " lost), " + std::to_string(seconds) + " s";
}

}  // namespace zpipe
