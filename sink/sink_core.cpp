// See sink_core.hpp.
#include "zpipe/sink_core.hpp"

#include <algorithm>
#include <cstdio>

#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/halt_policy.hpp"
#include "zpipe/lease.hpp"
#include "zpipe/log.hpp"

namespace zpipe {
namespace {

constexpr std::size_t worker_name_bytes = 64;
constexpr std::uint64_t rejected_results_logged = 10;
constexpr std::uint64_t forgeries_logged = 10;

std::string rate_text(std::uint64_t tasks, double seconds) {
  char text[64];
  const double rate = seconds > 0 ? static_cast<double>(tasks) / seconds : 0;
  if (rate >= 1e6) std::snprintf(text, sizeof text, "%.2fM tasks/s", rate / 1e6);
  else std::snprintf(text, sizeof text, "%.0f tasks/s", rate);
  return text;
}

using Ranges = std::vector<std::pair<TaskId, TaskId>>;

// `ranges` (ascending, disjoint) without any id of `holes`.
Ranges subtract(const Ranges& ranges, Ranges holes) {
  std::sort(holes.begin(), holes.end());
  Ranges left;
  auto hole = holes.begin();
  for (auto [first, last] : ranges) {
    while (hole != holes.end() && hole->second < first) ++hole;
    for (auto cut = hole; cut != holes.end() && cut->first <= last && first <= last; ++cut) {
      if (cut->first > first) left.emplace_back(first, cut->first - 1);
      first = std::max(first, cut->second + 1);
      if (cut->second >= last) first = last + 1;
    }
    if (first <= last) left.emplace_back(first, last);
  }
  return left;
}

}  // namespace

SinkCore::SinkCore(SinkSettings settings, SinkEffects& effects, TimePoint now)
    : settings_(settings), effects_(effects), writer_(settings.format, settings.tag), started_(now),
      next_waiting_line_(now + waiting_line_interval) {
  if (settings_.keep_order) reorder_.emplace(settings_.reorder_buffer);
}

void SinkCore::replay(const Message& record) {
  if (const auto* manifest = std::get_if<JobManifest>(&record)) {
    if (!ledger_) {
      job_ = manifest->job;
      kind_ = manifest->kind;
      fingerprint_ = manifest->fingerprint;
      retries_ = manifest->retries;
      halt_ = manifest->halt;
      resume_token_ = manifest->resume_token;
      resume_failed_ = manifest->resume_failed;
      ledger_.emplace(manifest->total);
      return;
    }
    if (manifest->total && !ledger_->total()) ledger_->set_total(*manifest->total);
    if (fingerprint_.empty()) fingerprint_ = manifest->fingerprint;
    retries_ = manifest->retries;
    halt_ = manifest->halt;
    // The job was taken up again here (--resume after it ended unfinished,
    // or --resume-failed): what followed in the journal belongs to it.
    const bool new_run = manifest->resume_token != 0 && manifest->resume_token != resume_token_;
    const std::uint64_t reopened = take_up_again(*manifest);
    if (new_run && replayed_end_ && (!replayed_end_->complete || reopened > 0)) replayed_end_.reset();
  } else if (const auto* accepted = std::get_if<JobAccepted>(&record)) {
    lease_secret_ = accepted->lease_secret;
    // Whether the job prints in order is the job's, kept with it: a sink
    // restarted with another --keep-order would print held results twice,
    // or results out of order. Its --reorder-buffer may change.
    const bool ordered = accepted->reorder_buffer > 0;
    if (ordered != reorder_.has_value()) order_changed_ = true;
    if (!ordered) reorder_.reset();
    else if (!reorder_) reorder_.emplace(accepted->reorder_buffer);
  } else if (const auto* end = std::get_if<JobEnd>(&record)) {
    replayed_end_ = *end;
  } else if (const auto* results = std::get_if<ResultBatch>(&record)) {
    if (!ledger_) return;
    std::uint64_t recorded = 0;
    for (const Result& result : results->results) {
      if (ledger_->record(result.id, result.ok) != JobLedger::Outcome::recorded) continue;
      ++recorded;
      deliver(result, results->worker, false);
    }
    replayed_ += recorded;
    count_worker(results->worker, recorded);
    write_output_when_due(false);
  }
}

void SinkCore::replay_done(TimePoint now) {
  started_ = now;
  write_output_when_due(true);
  if (!ledger_) return;
  effects_.log("journal: taking up job " + std::to_string(job_) + " with " + std::to_string(replayed_) +
               " result(s) " +
               (settings_.rewrite_output ? "written again to the output" : "already printed by an earlier sink") +
               (reorder_ && reorder_->held() > 0
                    ? ", " + std::to_string(reorder_->held()) + " of them held for --keep-order until task " +
                          std::to_string(reorder_->next()) + " has a result"
                    : ""));
  if (order_changed_)
    effects_.log(std::string("journal: job ") + std::to_string(job_) + " was started " +
                 (reorder_ ? "with" : "without") + " --keep-order, and goes on so whatever this command line says");
  check_halt();
  if (!replayed_end_) return;
  // The job ended before this sink started: a ventilator restarted after
  // that learns it here, for a while; then the sink exits.
  effects_.log(std::string("journal: job ") + (replayed_end_->complete ? "ended complete" : "ended unfinished (cancelled or halted)") +
               "; answering a ventilator that asks for " + std::to_string(answer_for.count()) + " s");
  closing_status_ = !replayed_end_->complete ? (halted_ ? exit_halted : exit_cancelled)
                    : ledger_->failed() == 0  ? exit_ok
                                              : exit_tasks_failed;
  end_journaled_ = true;
  phase_ = Phase::answered;
  answered_until_ = now + answer_for;
}

void SinkCore::frame(const std::string& peer, const PeerIdentity& identity, std::string_view raw,
                     const Message& message, TimePoint now) {
  if (const auto* results = std::get_if<ResultBatch>(&message)) take_results(peer, identity, *results, raw, now);
  else if (const auto* manifest = std::get_if<JobManifest>(&message)) take_manifest(peer, *manifest, now);
  else if (const auto* end = std::get_if<JobEnd>(&message)) take_job_end(peer, *end, now);
  else throw codec_error("unexpected " + std::string(message_name(message)) + " message");
}

void SinkCore::take_manifest(const std::string& peer, const JobManifest& manifest, TimePoint now) {
  if (phase_ == Phase::answered) answered_until_ = std::max(answered_until_, now + answer_for);
  if (const auto refusal = refusal_of(manifest)) {
    encode(JobRefused{manifest.job, *refusal}, frame_);
    effects_.send(peer, frame_);
    return;
  }
  if (!ledger_) {
    start_job(manifest);
    started_ = now;
    next_waiting_line_ = now + waiting_line_interval;
  } else {
    bool changed = false;
    if (manifest.total && !ledger_->total()) {
      if (!ledger_->set_total(*manifest.total))
        throw codec_error("job total " + std::to_string(*manifest.total) + " is below task ids already done");
      changed = true;
    }
    // An input read from a pipe has its fingerprint only once it is all read.
    if (fingerprint_.empty() && !manifest.fingerprint.empty() && manifest.job == job_) {
      fingerprint_ = manifest.fingerprint;
      changed = true;
    }
    // A ventilator resumed with another --retries or --halt: its own holds from now on.
    bool rejudge = false;  // whether the job halts, with another --halt or after failures reopened
    if (manifest.retries != retries_ || manifest.halt != halt_) {
      rejudge = manifest.halt != halt_;
      retries_ = manifest.retries;
      halt_ = manifest.halt;
      changed = true;
    }
    if (manifest.resume_token != 0 && manifest.resume_token != resume_token_) {
      // A --resume run new to this sink: a job that ended unfinished
      // (cancelled or halted) is collected again, and with --resume-failed
      // its failed tasks are without a result again, so they are dealt.
      const bool ended = phase_ == Phase::answered;
      const bool ended_unfinished = ended && !closing_complete();
      const std::uint64_t reopened = take_up_again(manifest);
      if (reopened > 0)
        effects_.log("--resume-failed: " + std::to_string(reopened) + " failed task(s) of job " + std::to_string(job_) +
                     " will run again");
      if (ended && (ended_unfinished || reopened > 0)) {
        effects_.log("job " + std::to_string(job_) + " is taken up again by a resumed ventilator");
        phase_ = Phase::collecting;
        end_journaled_ = false;
        replayed_end_.reset();
        closing_peer_.clear();
        completed_at_.reset();
        next_waiting_line_ = now + waiting_line_interval;
      }
      changed = true;
      rejudge = true;
    }
    if (changed && settings_.journal) journal(current_manifest());
    if (rejudge) {
      halted_ = false;
      check_halt();
    }
    if (ledger_->complete() && !completed_at_) completed_at_ = now;
  }
  encode(JobAccepted{job_, ledger_->total(), ledger_->completed(), lease_secret_,
                     reorder_ ? reorder_->limit() : 0},
         frame_);
  effects_.send(peer, frame_);
  // A halt may have been lost with a link, or be news to a new ventilator:
  // every manifest is answered with it while the condition holds.
  const bool new_ventilator = peer != ventilator_;
  ventilator_ = peer;
  // With --keep-order the ventilator deals no further ahead than the
  // reorder buffer (job_accepted.reorder_buffer).
  std::uint64_t window = manifest.window > 0 ? manifest.window : assumed_window;
  if (reorder_) window = std::min(window, reorder_->limit() + 1);
  ack_after_tasks_ = std::max<std::uint64_t>(1, window / acks_per_window);
  if (!new_ventilator) {
    send_halt();
    return;
  }
  // A ventilator new to us (the first, or one that restarted) learns all the
  // sink holds durably, so it deals none of that again; the rest is
  // acknowledged as the journal syncs it.
  Ranges not_durable;
  for (const auto& chunk : unsynced_)
    for (const auto& range : chunk.acks.ranges()) not_durable.push_back(range);
  for (const auto& range : unsealed_acks_.ranges()) not_durable.push_back(range);
  if (!settings_.journal) not_durable.clear();
  send_acks(subtract(ledger_->done_ranges(), not_durable));
  last_ack_ = now;
  send_halt();
}

// The first manifest of a --resume run (a token this sink has not seen)
// takes the job up again; with --resume-failed its failed results are
// reopened. Returns how many were. Called in order for live manifests and
// replayed ones alike, so a restarted sink reaches the same state.
std::uint64_t SinkCore::take_up_again(const JobManifest& manifest) {
  if (manifest.resume_token == 0 || manifest.resume_token == resume_token_) return 0;
  resume_token_ = manifest.resume_token;
  resume_failed_ = manifest.resume_failed;
  return manifest.resume_failed ? ledger_->reopen_failed() : 0;
}

// The sink alone knows how many tasks failed and succeeded, so it judges
// --halt, after every result it records; the ventilator acts on it. The
// counts are the job's, results taken up from the journal included. A job
// with every result in has nothing left to halt.
void SinkCore::check_halt() {
  if (halted_ || !ledger_ || ledger_->complete() || !halt_reached(halt_, ledger_->ok(), ledger_->failed())) return;
  halted_ = true;
  halt_reason_ = "--halt " + describe(halt_) + " (" + std::to_string(ledger_->failed()) + " failed, " +
                 std::to_string(ledger_->ok()) + " ok)";
  effects_.log("job " + std::to_string(job_) + " halts: " + halt_reason_ +
               (halt_.when == HaltPolicy::When::now ? "; what workers hold is cancelled"
                                                    : "; no new task is dealt, what workers hold finishes"));
  send_halt();
}

void SinkCore::send_halt() {
  if (!halted_ || ventilator_.empty() || phase_ != Phase::collecting) return;
  encode(Halt{job_, halt_.when == HaltPolicy::When::now, halt_reason_}, frame_);
  effects_.send(ventilator_, frame_);
}

bool SinkCore::closing_complete() const { return closing_status_ == exit_ok || closing_status_ == exit_tasks_failed; }

// Why a manifest cannot be taken, or nullopt when it can.
std::optional<std::string> SinkCore::refusal_of(const JobManifest& manifest) const {
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
           ", yours is " + manifest.fingerprint +
           "): the input changed since that job started, so it cannot be resumed; start a new job, with a new sink "
           "or journal";
  return "this sink is collecting job " + std::to_string(job_) +
         (same_input ? " of this same input; add --resume to continue it" : "; start another sink for another job");
}

void SinkCore::start_job(const JobManifest& manifest) {
  job_ = manifest.job;
  kind_ = manifest.kind;
  fingerprint_ = manifest.fingerprint;
  retries_ = manifest.retries;
  halt_ = manifest.halt;
  resume_token_ = manifest.resume_token;
  resume_failed_ = manifest.resume_failed;
  ledger_.emplace(manifest.total);
  lease_secret_ = settings_.lease_secret;
  effects_.log("job " + std::to_string(job_) + " (" + printable(manifest.kind, worker_name_bytes) + ", " +
               (manifest.total ? std::to_string(*manifest.total) + " tasks" : "size not known yet") + ") started");
  if (!settings_.journal) return;
  journal(current_manifest());
  // The lease secret is the job's: a sink restarted from this journal
  // accepts what workers return under leases signed before.
  journal(JobAccepted{job_, ledger_->total(), 0, lease_secret_, reorder_ ? reorder_->limit() : 0});
}

JobManifest SinkCore::current_manifest() const {
  return JobManifest{job_, kind_, ledger_->total(), fingerprint_, false, 0, retries_, halt_, resume_token_, resume_failed_};
}

void SinkCore::journal(std::string_view frame) {
  effects_.journal_append(frame);
  ++appended_;
}

void SinkCore::journal(const Message& message) {
  encode(message, frame_);
  journal(frame_);
}

void SinkCore::take_results(const std::string& peer, const PeerIdentity& identity, const ResultBatch& batch,
                            std::string_view raw, TimePoint now) {
  if (!ledger_ || batch.job != job_)
    throw codec_error("results for job " + std::to_string(batch.job) +
                      (ledger_ ? ", not this sink's job " + std::to_string(job_) : " before any job manifest"));
  if (phase_ != Phase::collecting) return;  // the job is over; anything now is a duplicate
  // The ventilator reports the tasks it failed itself; everyone else's
  // results count only under a lease for that id signed for that key.
  const bool from_ventilator = peer == ventilator_ && identity.may(Role::ventilator);
  if (!from_ventilator && !identity.may(Role::worker))
    throw codec_error("results from a key that is not allowed as a worker");
  if (!from_ventilator) leased_.check(lease_secret_, job_, batch.leases, identity.key);
  const LeasedRanges* leased = from_ventilator ? nullptr : &leased_;
  // Names in the output and the journal are the key's, never the peer's own.
  const std::string_view worker = from_ventilator ? std::string_view("ventilator")
                                  : identity.authenticated() ? std::string_view(identity.name)
                                                             : std::string_view(batch.worker);
  const bool renamed = worker != batch.worker;
  std::uint64_t forged = 0;
  std::uint64_t recorded = 0;
  std::uint64_t asked_again = 0;
  AckRanges& acks = settings_.journal ? unsealed_acks_ : pending_acks_;
  // The journal keeps only new results. Usually every result is new, and
  // the frame as received is the record; the new ones are copied out only
  // from the first result that is not.
  bool all_new = !renamed;
  journaled_.results.clear();
  for (std::size_t i = 0; i < batch.results.size(); ++i) {
    const Result& result = batch.results[i];
    if (leased && !leased->covers(result.id)) {
      if (all_new && settings_.journal)
        journaled_.results.assign(batch.results.begin(), batch.results.begin() + static_cast<std::ptrdiff_t>(i));
      all_new = false;
      ++forged;
      continue;
    }
    // A failure of an attempt up to the job's --retries is not final: the
    // task is run again, and this attempt goes only to the joblog; nothing
    // is recorded, printed, journaled or acknowledged for it. The
    // ventilator's own failures (a task lost with too many workers) are final.
    const bool final = result.ok || from_ventilator || result.attempt > retries_;
    const auto outcome = final ? ledger_->record(result.id, result.ok) : ledger_->check(result.id);
    if ((outcome != JobLedger::Outcome::recorded || !final) && all_new) {
      all_new = false;
      if (settings_.journal)
        journaled_.results.assign(batch.results.begin(), batch.results.begin() + static_cast<std::ptrdiff_t>(i));
    }
    switch (outcome) {
      case JobLedger::Outcome::recorded:
        if (!final) {
          ask_again(result, worker);
          ++asked_again;
          break;
        }
        deliver(result, worker, true);
        acks.add(result.id);
        if (settings_.journal && !all_new) journaled_.results.push_back(result);
        ++recorded;
        break;
      case JobLedger::Outcome::duplicate:
        ++duplicates_;
        // Acknowledged again: the ventilator may have missed the first ack.
        acks.add(result.id);
        break;
      case JobLedger::Outcome::out_of_range:
        if (++rejected_results_ <= rejected_results_logged)
          effects_.log("rejected a result: task id " + std::to_string(result.id) + " is outside the job");
        break;
    }
  }
  if (forged > 0) {
    forged_ += forged;
    if (++forged_frames_ <= forgeries_logged)
      effects_.log("rejected " + std::to_string(forged) + " result(s) from key '" +
                   (identity.authenticated() ? identity.name : printable(batch.worker, worker_name_bytes)) +
                   "' for tasks not leased to it" + (leased->bad() > 0 ? " (" + std::to_string(leased->bad()) +
                                                                              " lease(s) with a wrong token)"
                                                                        : ""));
  }
  if (recorded + asked_again > 0) next_waiting_line_ = now + waiting_line_interval;  // the job moves
  if (recorded == 0) return;
  if (!first_result_at_) {
    first_result_at_ = now;
    completed_at_first_result_ = ledger_->completed();
  }
  if (ledger_->complete() && !completed_at_) completed_at_ = now;
  check_halt();
  count_worker(worker, recorded);
  if (!settings_.journal) {
    write_output_when_due(false);
    return;
  }
  if (all_new) {
    journal(raw);
    return;
  }
  journaled_.job = job_;
  journaled_.worker = std::string(worker);
  journal(journaled_);
}

void SinkCore::ask_again(const Result& result, std::string_view worker) {
  effects_.attempt_failed(result, worker);
  pending_retry_.ids.push_back(result.id);
  pending_retry_.attempts.push_back(result.attempt);
  ++retried_;
}

// A result recorded for the first time goes to the output, or with
// --keep-order into the reorder buffer until every earlier id has one.
// Replayed from the journal (`live` false), it is written only when the
// output is rewritten, and is not told to the joblog: the sink before this
// one did both as it released the result. What it still held then is held
// again here, and released (and told) as the gap before it fills.
void SinkCore::deliver(const Result& result, std::string_view worker, bool live) {
  const auto release = [&](const Result& released, std::string_view by) {
    if (live || settings_.rewrite_output) writer_.write(released, by);
    if (live) effects_.result_recorded(released, by);
  };
  if (!reorder_) return release(result, worker);
  if (reorder_->take(result, worker, release) || ++beyond_reorder_buffer_ > 1) return;
  effects_.log("holding task " + std::to_string(result.id) + " beyond --reorder-buffer " +
               std::to_string(reorder_->limit()) + " (waiting for task " + std::to_string(reorder_->next()) +
               "): the ventilator does not keep to it, so this sink holds what it deals (up to its "
               "--max-in-flight); run a ventilator as new as this sink");
}

// Results still held for --keep-order when the job stops: the tasks before
// them never came, so they are not printed (with --journal they are kept,
// and a sink restarted on it prints them once the gap fills).
void SinkCore::say_what_is_held() {
  if (!reorder_ || reorder_->held() == 0) return;
  effects_.log(std::to_string(reorder_->held()) + " result(s) held for --keep-order are not printed: task " +
               std::to_string(reorder_->next()) + " before them has no result" +
               (settings_.journal ? " (they are in the journal)" : ""));
}

void SinkCore::count_worker(std::string_view worker, std::uint64_t tasks) {
  if (tasks == 0) return;
  const std::string name = printable(worker, worker_name_bytes);
  if (auto known = tasks_by_worker_.find(name); known != tasks_by_worker_.end()) known->second += tasks;
  else if (tasks_by_worker_.size() < named_workers_at_most) tasks_by_worker_.emplace(name, tasks);
  else tasks_by_other_workers_ += tasks;
}

void SinkCore::take_job_end(const std::string& peer, const JobEnd& end, TimePoint now) {
  if (!ledger_ || end.job != job_) throw codec_error("job_end for job " + std::to_string(end.job) + ", not this sink's");
  if (phase_ == Phase::answered) {  // our answer was lost
    closing_peer_ = peer;
    answer_job_end();
    return;
  }
  if (phase_ != Phase::collecting) return;
  if (end.complete && !ledger_->complete())
    throw codec_error("job_end says the job is complete, but " + std::to_string(ledger_->completed()) + " of " +
                      (ledger_->total() ? std::to_string(*ledger_->total()) : "?") + " results are here");
  closing_peer_ = peer;
  if (!end.complete)
    effects_.log("the ventilator " + std::string(halted_ ? "ended the halted job " : "cancelled job ") + std::to_string(job_));
  close(end.complete ? (ledger_->failed() == 0 ? exit_ok : exit_tasks_failed) : halted_ ? exit_halted : exit_cancelled,
        now);
}

void SinkCore::stop(TimePoint now) {
  if (phase_ == Phase::done) return;
  if (phase_ == Phase::answered) return finish();
  if (phase_ == Phase::closing) {  // a second signal: what is not durable yet is not printed
    closing_status_ = exit_interrupted;
    return finish();
  }
  if (ledger_ && ledger_->complete()) {
    effects_.log("stopped by signal while waiting for the ventilator to end the job; every result is here");
    close(ledger_->failed() == 0 ? exit_ok : exit_tasks_failed, now);
    return;
  }
  close(exit_interrupted, now);
}

void SinkCore::close(int status, TimePoint now) {
  phase_ = Phase::closing;
  say_what_is_held();
  closing_status_ = status;
  seal(now);
  finish_when_synced(now);
}

// Everything received is durable and written: answer job_end. The sink
// exits once the ventilator, which exits on that answer, disconnects.
void SinkCore::finish_when_synced(TimePoint now) {
  if (phase_ != Phase::closing || synced_ < appended_ || !unsynced_.empty()) return;
  write_output_when_due(true);
  if (!pending_acks_.empty() && !ventilator_.empty()) send_acks(pending_acks_.take());
  if (closing_peer_.empty()) return finish();  // stopped by a signal: nobody to answer
  if (settings_.journal && !end_journaled_) {
    // The end goes into the journal, durably, before it is answered: a sink
    // restarted after the answer must not wait for a ventilator that left.
    end_journaled_ = true;
    journal(JobEnd{job_, closing_complete()});
    seal(now);
    return;
  }
  answer_job_end();
  phase_ = Phase::answered;
  answered_until_ = now + answer_for;
}

void SinkCore::answer_job_end() {
  encode(JobEnd{job_, closing_complete()}, frame_);
  effects_.send(closing_peer_, frame_);
}

void SinkCore::peer_gone(const std::string& peer, TimePoint) {
  if (phase_ == Phase::answered && peer == closing_peer_) finish();
}

void SinkCore::finish() {
  phase_ = Phase::done;
  exit_status_ = closing_status_;
}

// Output and acks gathered since the last seal wait for the journal to hold
// every record appended so far; one sync at a time is asked for, and what
// arrives meanwhile waits for the next (group commit).
void SinkCore::seal(TimePoint now) {
  if (!settings_.journal) return;
  const bool unsealed = !writer_.buffer().empty() || !unsealed_acks_.empty();
  if (unsealed) {
    Unsynced chunk;
    chunk.sequence = appended_;
    chunk.output.swap(writer_.buffer());
    writer_.buffer().swap(spare_output_);
    chunk.acks = std::move(unsealed_acks_);
    unsealed_acks_ = AckRanges{};
    unsynced_.push_back(std::move(chunk));
  }
  if (appended_ > sync_requested_) {
    sync_requested_ = appended_;
    last_sync_request_ = now;
    effects_.journal_sync();
  }
}

void SinkCore::journal_synced(std::uint64_t sequence, TimePoint now) {
  synced_ = std::max(synced_, sequence);
  bool released = false;
  while (!unsynced_.empty() && unsynced_.front().sequence <= synced_) {
    Unsynced& chunk = unsynced_.front();
    if (!chunk.output.empty()) effects_.write_output(chunk.output);
    if (chunk.output.capacity() > spare_output_.capacity() && chunk.output.capacity() <= spare_output_bytes_at_most) {
      chunk.output.clear();
      spare_output_.swap(chunk.output);
    }
    for (const auto& [first, last] : chunk.acks.ranges()) pending_acks_.add(first, last);
    released = released || !chunk.acks.empty();
    unsynced_.pop_front();
  }
  // A sync already gathers the acks of every result since the last one
  // (group commit): they go at once, not after ack_interval more. A worker
  // holds its tasks until they are acknowledged (--max-held-per-worker), so
  // holding them back too cost --journal a quarter of its throughput.
  send_acks_when_due(now, released);
  finish_when_synced(now);
}

void SinkCore::tick(TimePoint now, bool caught_up) {
  if (phase_ == Phase::done) return;
  if (phase_ == Phase::answered) {
    if (now >= answered_until_) finish();
    return;
  }
  if (settings_.journal) {
    // One sync in flight at a time; a seal with nothing new to sync releases
    // its chunk when the sync in flight completes. The journal may sync more
    // than was asked (what was appended meanwhile), so "none in flight" is
    // synced_ at or past the request, not equal to it.
    const bool worth_a_sync = caught_up || unsealed_acks_.tasks() >= ack_after_tasks_ ||
                              now - last_sync_request_ >= ack_interval;
    if (synced_ >= sync_requested_ && worth_a_sync) seal(now);
    if (synced_ == appended_ && !unsynced_.empty()) journal_synced(synced_, now);
  } else {
    write_output_when_due(true);
  }
  send_acks_when_due(now, false);
  send_retries_when_due(now);
  finish_when_synced(now);
  say_what_it_waits_for(now);
}

// Ten seconds without a job, or without a new result, get a line, so
// whoever watches the log sees what the sink is waiting for.
void SinkCore::say_what_it_waits_for(TimePoint now) {
  if (phase_ != Phase::collecting || now < next_waiting_line_) return;
  next_waiting_line_ = now + waiting_line_interval;
  if (!ledger_) {
    effects_.log("still waiting for a job: no ventilator has sent one; is a ventilator running with --sink pointing here?");
  } else if (!ledger_->complete()) {
    const auto total = ledger_->total();
    effects_.log("still waiting for results of job " + std::to_string(job_) + ": " +
                 std::to_string(ledger_->completed()) + " of " + (total ? std::to_string(*total) : "?") +
                 " done, none new for " + std::to_string(waiting_line_interval.count()) +
                 " s; are workers running with --sink pointing here?");
  }
}

// With a journal, the buffer holds only results replayed from it, which are
// durable: live results are sealed into chunks before they may be written.
void SinkCore::write_output_when_due(bool now_anyway) {
  std::string& buffer = writer_.buffer();
  if (buffer.empty() || (!now_anyway && buffer.size() < output_flush_bytes)) return;
  effects_.write_output(buffer);
  buffer.clear();
}

void SinkCore::send_acks_when_due(TimePoint now, bool now_anyway) {
  if (pending_acks_.empty() || ventilator_.empty()) return;
  if (!now_anyway && pending_acks_.size() < ack_ranges_at_most && pending_acks_.tasks() < ack_after_tasks_ &&
      now - last_ack_ < ack_interval)
    return;
  send_acks(pending_acks_.take());
  last_ack_ = now;
}

// Sends `ranges` to the ventilator in frames of at most ack_ranges_at_most
// ranges. What its queue has no room for stays pending: a lost ack would
// leave its tasks in flight for ever. (A ventilator that disconnected comes
// back as a new peer and is sent every ack anyway.)
void SinkCore::send_acks(const std::vector<std::pair<TaskId, TaskId>>& ranges) {
  for (std::size_t at = 0; at < ranges.size(); at += ack_ranges_at_most) {
    const auto first = ranges.begin() + static_cast<std::ptrdiff_t>(at);
    const auto end = ranges.begin() + static_cast<std::ptrdiff_t>(std::min(ranges.size(), at + ack_ranges_at_most));
    encode(Ack{job_, {first, end}}, frame_);
    if (!effects_.send(ventilator_, frame_)) {
      for (auto unsent = first; unsent != ranges.end(); ++unsent) pending_acks_.add(unsent->first, unsent->second);
      return;
    }
  }
}

// Failed attempts go back to the ventilator as acks do: every ack_interval,
// or at once when a frame's worth is pending. A frame its queue has no room
// for stays pending.
void SinkCore::send_retries_when_due(TimePoint now) {
  auto& ids = pending_retry_.ids;
  auto& attempts = pending_retry_.attempts;
  if (ids.empty() || ventilator_.empty() || phase_ != Phase::collecting) return;
  if (ids.size() < retry_ids_at_most && now - last_retry_ < ack_interval) return;
  std::size_t sent = 0;
  while (sent < ids.size()) {
    const auto first = static_cast<std::ptrdiff_t>(sent);
    const auto end = static_cast<std::ptrdiff_t>(std::min(ids.size(), sent + retry_ids_at_most));
    encode(Retry{job_, {ids.begin() + first, ids.begin() + end}, {attempts.begin() + first, attempts.begin() + end}},
           frame_);
    if (!effects_.send(ventilator_, frame_)) break;
    sent = static_cast<std::size_t>(end);
  }
  ids.erase(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(sent));
  attempts.erase(attempts.begin(), attempts.begin() + static_cast<std::ptrdiff_t>(sent));
  last_retry_ = now;
}

SinkCore::TimePoint SinkCore::next_deadline() const {
  if (phase_ == Phase::answered) return answered_until_;
  if (phase_ == Phase::done || ventilator_.empty()) return TimePoint::max();
  TimePoint deadline = TimePoint::max();
  if (!pending_acks_.empty()) deadline = last_ack_ + ack_interval;
  // A sync put off while frames waited (tick) is owed by ack_interval.
  const bool sync_owed = settings_.journal && synced_ >= sync_requested_ &&
                         (!unsealed_acks_.empty() || writer_.pending_bytes() > 0);
  if (sync_owed) deadline = std::min(deadline, last_sync_request_ + ack_interval);
  if (!pending_retry_.ids.empty() && phase_ == Phase::collecting) deadline = std::min(deadline, last_retry_ + ack_interval);
  return deadline;
}

std::size_t SinkCore::held_bytes() const {
  std::size_t bytes = writer_.pending_bytes() + unsealed_acks_.size() * 16 + (reorder_ ? reorder_->bytes() : 0);
  for (const auto& chunk : unsynced_) bytes += chunk.output.size() + chunk.acks.size() * 16;
  return bytes + pending_acks_.size() * 16 + pending_retry_.ids.size() * 12;
}

std::vector<std::string> SinkCore::summary(TimePoint now, std::uint64_t frames_rejected) const {
  std::vector<std::string> lines;
  if (!ledger_) {
    lines.push_back("stopped by signal before any job arrived");
    return lines;
  }
  const TimePoint end = completed_at_.value_or(now);
  const auto seconds_since = [&](TimePoint from) { return std::chrono::duration<double>(end - from).count(); };
  const double working = first_result_at_ ? seconds_since(*first_result_at_) : 0;
  const std::uint64_t completed = ledger_->completed();
  const std::uint64_t after_first = completed - std::min(completed_at_first_result_, completed);
  // Results that all came in one frame span no time: their rate is taken
  // over the time since the job was accepted.
  const std::string rate = after_first > 0 && working > 0
                               ? rate_text(after_first, working)
                               : rate_text(completed - std::min(replayed_, completed), seconds_since(started_));
  char timing[96];
  std::snprintf(timing, sizeof timing, "%.3f s; %.3f s from the first result to the last", seconds_since(started_), working);
  const std::string total = ledger_->total() ? std::to_string(*ledger_->total()) : "?";
  const std::string how = exit_status_ == exit_cancelled    ? "job " + std::to_string(job_) + " cancelled: "
                          : exit_status_ == exit_halted      ? "job " + std::to_string(job_) + " halted by " + halt_reason_ + ": "
                          : exit_status_ == exit_interrupted ? "stopped by signal; job " + std::to_string(job_) + ": "
                                                             : "job " + std::to_string(job_) + " complete: ";
  // Tasks without a result when a job ends unfinished were never run (or
  // their run was cancelled): parallel's "not run".
  const std::string not_run = exit_status_ == exit_cancelled || exit_status_ == exit_halted
                                  ? (ledger_->total() ? std::to_string(*ledger_->total() - ledger_->completed())
                                                      : std::string("?")) + " not run, "
                                  : std::string();
  lines.push_back(how + std::to_string(ledger_->completed()) + " of " + total + " tasks, " +
                  std::to_string(ledger_->ok()) + " ok, " + std::to_string(ledger_->failed()) + " failed, " +
                  not_run + std::to_string(retried_) + " retried, in " + timing + " (" + rate + ")");
  lines.push_back("duplicates dropped: " + std::to_string(duplicates_) +
                  ", frames rejected: " + std::to_string(frames_rejected + rejected_results_) +
                  ", results without a lease rejected: " + std::to_string(forged_));
  std::string per_worker;
  for (const auto& [worker, tasks] : tasks_by_worker_)
    per_worker += (per_worker.empty() ? "" : ", ") + worker + " " + std::to_string(tasks);
  if (tasks_by_other_workers_ > 0) per_worker += ", other workers " + std::to_string(tasks_by_other_workers_);
  lines.push_back("tasks per worker: " + (per_worker.empty() ? std::string("none") : per_worker));
  return lines;
}

}  // namespace zpipe
