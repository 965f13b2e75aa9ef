// See worker_core.hpp.
#include "worker_core.hpp"

#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"

namespace zpipe {

WorkerCore::WorkerCore(WorkerSettings settings, WorkerEffects& effects)
    : settings_(std::move(settings)), effects_(effects), credits_(2 * settings_.threads) {}

// Tasks still queued belong to whatever the ventilator knew of us before;
// it deals them again, so they are dropped here.
void WorkerCore::introduce(TimePoint now) {
  effects_.drop_queued();
  ++epoch_;
  // Until the ventilator has our hello it deals nothing to us, so a hello
  // that found no connection is sent again rather than counted.
  introduced_ = tell_ventilator(Hello{settings_.name, credits_.reset(), settings_.kinds, settings_.bundle}, now);
  hello_owed_ = !introduced_;
}

void WorkerCore::ventilator_connected(TimePoint now) { introduce(now); }

void WorkerCore::sink_connected(TimePoint now) {
  if (++sink_handshakes_ == 1 || !introduced_) return;
  effects_.log("the link to the sink is back; results sent before it broke may be lost, so saying hello again");
  introduce(now);
}

void WorkerCore::ventilator_frame(const Message& message, TimePoint now) {
  if (std::holds_alternative<HelloAgain>(message)) {
    effects_.log("the ventilator does not know this worker (it restarted, or took us for gone); saying hello again");
    introduce(now);
  } else if (const auto* end = std::get_if<JobEnd>(&message)) {
    ++jobs_ended_;
    ++epoch_;
    const std::size_t dropped = effects_.drop_queued();
    // Cancelled or halted (--halt now): what runs is stopped too.
    if (!end->complete) effects_.cancel_running(epoch_);
    std::string what = "job " + std::to_string(end->job) + (end->complete ? " is complete" : " was cancelled");
    // Counted in messages: a bundle (PROTOCOL.md §6.2.10) is one, whatever it stands for.
    if (dropped > 0) what += "; dropped " + std::to_string(dropped) + " tasks message(s) not started";
    if (settings_.once) {
      effects_.log(what);
      exit_status_ = end->complete ? exit_ok : exit_cancelled;
      return;
    }
    effects_.log(what + "; waiting for the next job");
    // Silent until the next ventilator's handshake: a keep-alive queued now
    // would reach it before our hello.
    introduced_ = false;
    hello_owed_ = false;
  } else {
    throw codec_error("unexpected " + std::string(message_name(message)) + " message");
  }
}

void WorkerCore::finished(std::uint32_t frames, std::uint64_t epoch) {
  if (epoch == epoch_) credits_.finished(frames);
}

void WorkerCore::tick(TimePoint now, std::uint32_t wanted_window, bool idle) {
  if (exit_status_) return;
  if (hello_owed_ && now - last_sent_ >= hello_retry) introduce(now);
  if (!introduced_) return;
  // A credit counts as returned only once it is queued: one that is lost
  // on the way would leave the two sides' counts apart for good.
  const auto give = credits_.due(credits_.at_most_doubled(wanted_window), idle);
  if (give && *give == 0) credits_.returned(0);  // the window shrinks: nothing to send
  if (give && *give > 0) {
    if (tell_ventilator(Credit{*give}, now)) credits_.returned(*give);
  } else if (now - last_sent_ >= keepalive_interval) {
    tell_ventilator(Credit{0}, now);
  }
}

void WorkerCore::stop() { exit_status_ = exit_interrupted; }

WorkerCore::TimePoint WorkerCore::next_deadline() const {
  if (hello_owed_) return last_sent_ + hello_retry;
  return introduced_ ? last_sent_ + keepalive_interval : TimePoint::max();
}

bool WorkerCore::tell_ventilator(const Message& message, TimePoint now) {
  encode(message, frame_);
  last_sent_ = now;
  return effects_.send_to_ventilator(frame_);
}

}  // namespace zpipe
