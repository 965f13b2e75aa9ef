// zpipe-latency-probe: feeds a zpipe job one task line at a fixed rate and
// times each task from the moment its line is written to the ventilator's
// input until the sink's result line for it is read back, on the one clock
// of this one process (CLOCK_MONOTONIC, so nothing needs to agree across
// processes). scripts/bench.sh --latency wires it up:
//
//   probe --to FIFO_IN --from FIFO_OUT
//   zpipe-ventilator --input - --kind square --batch 1 <FIFO_IN
//   zpipe-sink --output - >FIFO_OUT          (text format: "task ID: VALUE")
//
// Line k (k = 1, 2, ...) is the number k, so the ventilator gives it task id
// k and the sink prints "task k: k²"; the probe checks both, so a result it
// cannot match to its line is an error, not a wrong sample. A line that is
// just "k" is taken as well: with `cat FIFO_IN >FIFO_OUT` in place of the
// pipeline the probe measures its own floor (two pipes and a process hop).
//
// Task 1 is a warm-up, sent alone and excluded: it waits for the worker to
// connect. Tasks 2..count+1 follow on a fixed schedule (start + i/rate,
// whatever the answers do, so a stall shows as latency instead of slowing
// the sender). Every wait is bounded; exit status 0, 1 when results are
// missing or wrong or a wait ran out, 2 for a bad command line.
#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench_options.hpp"
#include "latency_stats.hpp"

namespace {

using zpipe::bench::parse_number;
using zpipe::bench::usage_error;

using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC on Linux

struct ProbeConfig {
  double rate = 1000;          // tasks/s
  std::uint64_t count = 5000;  // timed tasks, after the warm-up
  std::string to;              // written: the ventilator's input
  std::string from;            // read: the sink's output
  std::string samples;         // optional CDF file
  std::string trace;           // optional: each task's send time and latency
  std::chrono::seconds warmup_limit{30};
  std::chrono::seconds drain_limit{10};  // for the last results, after the last line
};

constexpr std::string_view usage_text =
    "usage: zpipe-latency-probe --to PATH --from PATH [--rate R] [--count N] [--samples FILE]\n"
    "  --to PATH       where to write task lines (the ventilator's --input, a fifo)\n"
    "  --from PATH     where to read result lines (the sink's text output, a fifo)\n"
    "  --rate R        tasks per second, 1 to 1000000      (default 1000)\n"
    "  --count N       timed tasks, 1 to 10000000          (default 5000)\n"
    "  --samples FILE  also write the latency CDF: \"microseconds fraction\" per line\n"
    "  --trace FILE    also write \"task sent_us latency_us\" per task, in task order\n"
    "Prints one line on stdout: samples=N p50_us=.. p99_us=.. p999_us=.. max_us=..\n";

std::optional<ProbeConfig> parse_options(int argc, char** argv) {
  ProbeConfig config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view option = argv[i];
    if (option == "-h" || option == "--help") {
      std::cout << usage_text;
      return std::nullopt;
    }
    if (i + 1 == argc) throw usage_error("unknown option or missing value: '" + std::string(option) + "'");
    const std::string_view value = argv[++i];
    if (option == "--rate") config.rate = parse_number<double>(option, value, 1, 1e6);
    else if (option == "--count") config.count = parse_number<std::uint64_t>(option, value, 1, 10'000'000);
    else if (option == "--to") config.to = value;
    else if (option == "--from") config.from = value;
    else if (option == "--samples") config.samples = value;
    else if (option == "--trace") config.trace = value;
    else throw usage_error("unknown option '" + std::string(option) + "'");
  }
  if (config.to.empty() || config.from.empty()) throw usage_error("--to and --from are both needed");
  return config;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

int open_or_throw(const std::string& path, int flags, std::string_view what) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + std::string(what) + " " + path + ": " + std::strerror(errno));
  return fd;
}

class Probe {
 public:
  explicit Probe(const ProbeConfig& config)
      : config_(config),
        // The sink's end first: bench.sh starts the sink, then the
        // ventilator, and each opens its fifo before it runs.
        from_(open_or_throw(config.from, O_RDONLY, "--from")),
        to_(open_or_throw(config.to, O_WRONLY, "--to")) {
    sent_at_.resize(config.count + 2);
    answered_.resize(config.count + 2, false);
    received_at_.resize(config.count + 2);
    samples_.reserve(config.count);
  }

  int run() {
    // 1 ns of timer slack instead of 50 µs: the schedule and the wake-ups
    // on a result line are what is measured.
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    // A reader that is gone is an error to report, not a silent death.
    std::signal(SIGPIPE, SIG_IGN);
    send(1);
    if (!wait_for(1, Clock::now() + config_.warmup_limit))
      return fail("no result for the warm-up task in " + std::to_string(config_.warmup_limit.count()) +
                  " s: is the pipeline running?");
    const auto period = std::chrono::duration<double>(1.0 / config_.rate);
    const Clock::time_point start = Clock::now();
    std::uint64_t next = 2;
    const std::uint64_t last = config_.count + 1;
    while (next <= last) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(next - 2));
      if (Clock::now() >= due) {
        send(next++);
        continue;
      }
      read_until(due);
    }
    to_.reset();  // the end of the job's input
    if (!wait_for(last, Clock::now() + config_.drain_limit))
      return fail(std::to_string(config_.count - samples_.size()) + " result(s) missing " +
                  std::to_string(config_.drain_limit.count()) + " s after the last task was sent");
    samples_.finish();
    samples_.summary(std::cout);
    if (!config_.samples.empty()) samples_.write_cdf(config_.samples);
    if (!config_.trace.empty()) write_trace(start);
    return 0;
  }

 private:
  void send(std::uint64_t k) {
    char line[24];
    char* end = std::to_chars(line, line + sizeof line - 1, k).ptr;
    *end++ = '\n';
    sent_at_[k] = Clock::now();
    for (const char* at = line; at < end;) {
      const ssize_t written = ::write(to_.get(), at, static_cast<std::size_t>(end - at));
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) throw std::runtime_error("cannot write task line to " + config_.to + ": " + std::strerror(errno));
      at += written;
    }
  }

  // Reads result lines until tasks 1..k are all answered or `deadline`
  // passes; with several workers they may come out of order.
  bool wait_for(std::uint64_t k, Clock::time_point deadline) {
    while (answered_count_ < k && Clock::now() < deadline)
      if (!read_until(deadline)) break;
    return answered_count_ >= k;
  }

  // Waits for result lines until `deadline` and takes what came. Returns
  // false at the end of the output.
  bool read_until(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
    const timespec timeout{static_cast<time_t>(std::max<std::int64_t>(0, left.count()) / 1'000'000'000),
                           static_cast<long>(std::max<std::int64_t>(0, left.count()) % 1'000'000'000)};
    pollfd ready{from_.get(), POLLIN, 0};
    const int polled = ::ppoll(&ready, 1, &timeout, nullptr);
    if (polled < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    if (polled <= 0) return true;
    char chunk[65536];
    const ssize_t got = ::read(from_.get(), chunk, sizeof chunk);
    // One timestamp for the whole read: the lines in it arrived together.
    const Clock::time_point arrived = Clock::now();
    if (got < 0 && errno == EINTR) return true;
    if (got < 0) throw std::runtime_error("cannot read " + config_.from + ": " + std::strerror(errno));
    if (got == 0) return false;
    pending_.append(chunk, static_cast<std::size_t>(got));
    std::size_t begin = 0;
    for (std::size_t newline; (newline = pending_.find('\n', begin)) != std::string::npos; begin = newline + 1)
      take_line(std::string_view(pending_).substr(begin, newline - begin), arrived);
    pending_.erase(0, begin);
    return true;
  }

  void take_line(std::string_view line, Clock::time_point arrived) {
    std::uint64_t id = 0;
    bool ok = false;
    if (line.starts_with("task ")) {
      const std::string_view rest = line.substr(5);
      const auto [id_end, id_error] = std::from_chars(rest.data(), rest.data() + rest.size(), id);
      std::uint64_t value = 0;
      const std::string_view after = rest.substr(static_cast<std::size_t>(id_end - rest.data()));
      if (id_error == std::errc{} && after.starts_with(": ")) {
        const auto [value_end, value_error] = std::from_chars(after.data() + 2, after.data() + after.size(), value);
        ok = value_error == std::errc{} && value_end == after.data() + after.size() && value == id * id;
      }
    } else {
      const auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), id);
      ok = error == std::errc{} && end == line.data() + line.size();
    }
    if (!ok || id == 0 || id >= answered_.size())
      throw std::runtime_error("unexpected result line '" + std::string(line.substr(0, 80)) +
                               "': not the square of a task this probe sent");
    if (answered_[id]) throw std::runtime_error("task " + std::to_string(id) + " answered twice");
    answered_[id] = true;
    received_at_[id] = arrived;
    ++answered_count_;
    if (id > 1) samples_.add(std::chrono::duration_cast<std::chrono::nanoseconds>(arrived - sent_at_[id]).count());
  }

  void write_trace(Clock::time_point start) const {
    std::ofstream file(config_.trace);
    const auto us = [](Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); };
    for (std::uint64_t id = 2; id < sent_at_.size(); ++id)
      file << id << ' ' << us(sent_at_[id] - start) << ' ' << us(received_at_[id] - sent_at_[id]) << '\n';
    if (!file.flush()) throw std::runtime_error("cannot write --trace " + config_.trace);
  }

  int fail(const std::string& why) {
    std::cerr << "latency-probe: " << why << '\n';
    return 1;
  }

  const ProbeConfig& config_;
  Fd from_;
  Fd to_;
  std::vector<Clock::time_point> sent_at_;  // by task id
  std::vector<Clock::time_point> received_at_;  // by task id
  std::vector<bool> answered_;              // by task id
  std::uint64_t answered_count_ = 0;
  std::string pending_;                     // an incomplete line
  zpipe::bench::LatencySamples samples_;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::optional<ProbeConfig> config = parse_options(argc, argv);
    return config ? Probe(*config).run() : 0;
  } catch (const usage_error& e) {
    std::cerr << "latency-probe: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "latency-probe: " << e.what() << '\n';
    return 1;
  }
}
