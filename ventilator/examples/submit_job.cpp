// An example of a program that submits a job and collects its results
// itself, in one process: a sink, a ventilator and workers each run on a
// thread of their own (every run_* has its own ZeroMQ context), on ports the
// system picks. The job squares 1..N; the results come back through
// SinkConfig::on_output, and the program checks that every task came back
// once with id*id. Built as zpipe-example-submit-job; tests/CMakeLists.txt
// runs it.
//
//   zpipe-example-submit-job [N [WORKERS]]     (default 1000 tasks, 2 workers)
//
// Ctrl-C stops all three roles, as it stops the programs.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "zpipe/exit_codes.hpp"
#include "zpipe/guarded_main.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sink.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/ventilator.hpp"
#include "zpipe/worker.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto bind_wait = 10s;  // for a role to say where it listens
constexpr auto job_wait = 60s;   // for the whole job, then it is cancelled
constexpr auto stop_wait = 15s;  // for the roles to stop once cancelled

// Asks every role to stop, as Ctrl-C does: they all watch the same signal count.
void stop_all_roles() { std::raise(SIGTERM); }

std::uint64_t number_argument(std::string_view text, std::string_view what) {
  std::uint64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc{} || end != text.data() + text.size() || number == 0)
    throw zpipe::usage_error(std::string(what) + " must be a positive integer, not '" + std::string(text) + "'");
  return number;
}

// Counts the result lines of a square job ("task ID: VALUE", the sink's text
// format) as they arrive, on the sink's thread.
class SquareTally {
 public:
  explicit SquareTally(std::uint64_t tasks) : seen_(tasks + 1, 0) {}

  void take(std::string_view lines) {
    while (!lines.empty()) {
      const auto end = lines.find('\n');
      take_line(lines.substr(0, end));
      lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 1);
    }
  }

  /// Returns an empty string when every task came back once with id*id, or
  /// else what was wrong.
  [[nodiscard]] std::string problems() const {
    std::uint64_t missing = 0;
    std::uint64_t twice = 0;
    for (std::size_t id = 1; id < seen_.size(); ++id) {
      if (seen_[id] == 0) ++missing;
      if (seen_[id] > 1) ++twice;
    }
    std::string what;
    auto add = [&what](std::uint64_t count, std::string_view problem) {
      if (count == 0) return;
      if (!what.empty()) what += ", ";
      what += std::to_string(count);
      what += problem;
    };
    add(missing, " task(s) missing");
    add(twice, " task(s) more than once");
    add(wrong_, " line(s) not the square of a task of the job");
    return what;
  }

  [[nodiscard]] std::uint64_t lines() const { return lines_; }

 private:
  void take_line(std::string_view line) {
    ++lines_;
    constexpr std::string_view prefix = "task ";
    const auto colon = line.find(": ");
    std::uint64_t id = 0;
    std::int64_t value = 0;
    if (!line.starts_with(prefix) || colon == std::string_view::npos ||
        std::from_chars(line.data() + prefix.size(), line.data() + colon, id).ptr != line.data() + colon ||
        std::from_chars(line.data() + colon + 2, line.data() + line.size(), value).ptr != line.data() + line.size() ||
        id == 0 || id >= seen_.size() || static_cast<std::uint64_t>(value) != id * id) {
      ++wrong_;
      return;
    }
    ++seen_[id];
  }

  std::vector<std::uint32_t> seen_;  // by task id: how many times it came back
  std::uint64_t lines_ = 0;
  std::uint64_t wrong_ = 0;
};

// Runs `run` on a thread of its own. Returns its exit status to come, once
// `bound` has said where it listens; throws what ended it before that, after
// asking the roles already started to stop.
template <class Run>
std::future<int> start_role(std::string_view role, Run run, std::future<std::string>& bound, std::string& endpoint) {
  auto status = std::async(std::launch::async, std::move(run));
  const auto give_up = Clock::now() + bind_wait;
  while (bound.wait_for(20ms) != std::future_status::ready) {
    if (status.wait_for(0s) == std::future_status::ready) {
      stop_all_roles();
      // status.get() rethrows what ended the role, if anything did.
      throw std::runtime_error(std::string(role) + " ended with status " + std::to_string(status.get()) +
                               " before it listened");
    }
    if (Clock::now() > give_up) {
      stop_all_roles();
      throw std::runtime_error(std::string(role) + " did not listen within " + std::to_string(bind_wait.count()) + " s");
    }
  }
  endpoint = bound.get();
  return status;
}

int submit_job(std::uint64_t tasks, std::uint64_t worker_count) {
  SquareTally tally(tasks);

  std::promise<std::string> sink_bound;
  auto sink_endpoint_ready = sink_bound.get_future();
  zpipe::SinkConfig sink;
  sink.bind = "tcp://127.0.0.1:*";
  sink.progress = zpipe::ProgressMode::never;
  sink.on_output = [&tally](std::string_view lines) { tally.take(lines); };
  sink.on_bound = [&sink_bound](const std::string& endpoint) { sink_bound.set_value(endpoint); };
  std::string sink_endpoint;
  auto sink_status = start_role("sink", [&sink] { return zpipe::run_sink(sink); }, sink_endpoint_ready, sink_endpoint);

  std::promise<std::string> ventilator_bound;
  auto ventilator_endpoint_ready = ventilator_bound.get_future();
  zpipe::VentilatorConfig ventilator;
  ventilator.bind = "tcp://127.0.0.1:*";
  ventilator.sink = sink_endpoint;
  ventilator.count = tasks;
  ventilator.kind = "square";
  ventilator.batch = 16;
  ventilator.min_workers = static_cast<std::uint32_t>(worker_count);
  ventilator.on_bound = [&ventilator_bound](const std::string& endpoint) { ventilator_bound.set_value(endpoint); };
  std::string ventilator_endpoint;
  auto ventilator_status = start_role("ventilator", [&ventilator] { return zpipe::run_ventilator(ventilator); },
                                      ventilator_endpoint_ready, ventilator_endpoint);

  const zpipe::KindRegistry kinds = zpipe::builtin_kinds();
  std::vector<zpipe::WorkerConfig> workers(worker_count);
  std::vector<std::future<int>> worker_statuses;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    workers[i].ventilator = ventilator_endpoint;
    workers[i].sink = sink_endpoint;
    workers[i].name = "in-process-" + std::to_string(i + 1);
    workers[i].once = true;  // return when this job ends
    worker_statuses.push_back(
        std::async(std::launch::async, [&kinds, &config = workers[i]] { return zpipe::run_worker(config, kinds); }));
  }

  // Every role returns once the job ends; a job that takes too long is
  // cancelled as Ctrl-C would, and each role still returns.
  const auto give_up = Clock::now() + job_wait;
  bool cancelled = false;
  if (sink_status.wait_until(give_up) != std::future_status::ready) {
    zpipe::log_line("the job took more than " + std::to_string(job_wait.count()) + " s: cancelling it");
    stop_all_roles();
    cancelled = true;
  }
  const auto stopped_by = Clock::now() + stop_wait;
  auto status_of = [&](std::future<int>& status, const std::string& role) {
    if (status.wait_until(stopped_by) != std::future_status::ready) {
      zpipe::log_line(role + " did not stop: exiting without it");
      std::_Exit(zpipe::exit_runtime);
    }
    return status.get();
  };
  int worst = 0;
  auto note = [&](int status, const std::string& role) {
    if (status != 0) zpipe::log_line(role + " ended with status " + std::to_string(status));
    worst = std::max(worst, status);
  };
  note(status_of(sink_status, "the sink"), "the sink");
  note(status_of(ventilator_status, "the ventilator"), "the ventilator");
  for (std::size_t i = 0; i < worker_statuses.size(); ++i)
    note(status_of(worker_statuses[i], workers[i].name), workers[i].name);

  const std::string problems = tally.problems();
  zpipe::log_line("collected " + std::to_string(tally.lines()) + " result(s) of " + std::to_string(tasks) + " task(s) with " +
                  std::to_string(worker_count) + " worker(s) in-process: " + (problems.empty() ? "all correct" : problems));
  if (cancelled) return zpipe::exit_interrupted;
  if (worst != 0) return worst;
  return problems.empty() ? zpipe::exit_ok : zpipe::exit_tasks_failed;
}

}  // namespace

int main(int argc, char** argv) {
  return zpipe::guarded_main("submit-job", [&]() -> int {
    constexpr std::string_view usage = "usage: zpipe-example-submit-job [N [WORKERS]]";
    if (argc == 2 && std::string_view(argv[1]) == "--help") {
      std::cout << usage << "\n  squares 1..N with WORKERS in-process workers (default 1000, 2) and checks the results\n";
      return zpipe::exit_ok;
    }
    if (argc > 3) throw zpipe::usage_error(std::string(usage));
    const std::uint64_t tasks = argc > 1 ? number_argument(argv[1], "N") : 1000;
    const std::uint64_t workers = argc > 2 ? number_argument(argv[2], "WORKERS") : 2;
    if (workers > 64) throw zpipe::usage_error("WORKERS must be at most 64");
    zpipe::install_stop_signals();
    return submit_job(tasks, workers);
  });
}
