// The raw-transport baseline that scripts/bench.sh measures zpipe against:
// N frames of B bytes through zpipe's topology with nothing but ZeroMQ, no
// serialization, no credits, no acknowledgements.
//
// Three kinds of stage, threads of this one process, each with its own
// context (so its own I/O thread) as each zpipe program has:
//   ventilator  PUSH  @tcp://127.0.0.1:*   sends N frames of B bytes
//   worker i    PULL  >ventilator          takes frames, and
//               PUSH  >sink                forwards each one unchanged
//   sink        PULL  @tcp://127.0.0.1:*   receives the N frames (main thread)
//
// The clock starts once every worker has connected to the ventilator, so that
// PUSH deals to all of them, and stops when the sink has the N-th frame.
// Prints messages/s on stdout.
//
// With --rate R the ventilator sends instead on a fixed schedule (frame i at
// start + i/R, whatever the sink does), each frame carrying its send time
// (CLOCK_MONOTONIC ns, one clock as all stages are threads of this process)
// in its first 8 bytes, and the sink prints the percentiles of send-to-
// receive time over the frames, in the line latency_stats.hpp writes: the
// two TCP hops ventilator -> worker -> sink that zpipe's task and result
// take, with nothing else, for bench.sh --latency.
//
// Exit status: 0, 1 when a stage fails or stalls for 10 s, 2 for a bad
// command line.
#include <sys/prctl.h>

#include <charconv>
#include <chrono>
#include <cstring>
#include <cstdint>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "bench_options.hpp"
#include "latency_stats.hpp"

namespace {

using zpipe::bench::parse_number;
using zpipe::bench::usage_error;

using Clock = std::chrono::steady_clock;

/// A stage waits in steps this long, so that it notices a stop request...
constexpr std::chrono::milliseconds wait_step{100};
/// ...and gives up after this long without progress.
constexpr std::chrono::milliseconds stall_limit{10'000};
constexpr int steps_to_stall = static_cast<int>(stall_limit / wait_step);

struct RelayConfig {
  std::uint64_t messages = 1'000'000;
  std::size_t bytes = 32;
  unsigned workers = 1;
  double rate = 0;  // frames/s on a fixed schedule; 0: as fast as it can
  std::string samples;  // with --rate: the latency CDF goes here
};

constexpr std::string_view usage_text =
    "usage: zpipe-raw-relay [--messages N] [--bytes B] [--workers W]\n"
    "  --messages N  frames to send               (default 1000000)\n"
    "  --bytes B     size of each frame in bytes  (default 32)\n"
    "  --workers W   forwarding stages, 1 to 64   (default 1)\n"
    "  --rate R      send R frames/s on a fixed schedule and time each one (B >= 8)\n"
    "  --samples F   with --rate, also write the latency CDF to F\n"
    "Prints the sink's rate in messages/s on stdout; with --rate, the latency\n"
    "percentiles: samples=N p50_us=.. p99_us=.. p999_us=.. max_us=..\n";

/// Returns the config, or nullopt after printing the usage for --help.
/// Throws usage_error for anything else it does not understand.
std::optional<RelayConfig> parse_options(int argc, char** argv) {
  RelayConfig config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view option = argv[i];
    if (option == "-h" || option == "--help") {
      std::cout << usage_text;
      return std::nullopt;
    }
    if (i + 1 == argc) throw usage_error("unknown option or missing value: '" + std::string(option) + "'");
    const std::string_view value = argv[++i];
    if (option == "--messages") config.messages = parse_number<std::uint64_t>(option, value, 1, 1'000'000'000);
    else if (option == "--bytes") config.bytes = parse_number<std::size_t>(option, value, 0, 16 << 20);
    else if (option == "--workers") config.workers = parse_number<unsigned>(option, value, 1, 64);
    else if (option == "--rate") config.rate = parse_number<double>(option, value, 1, 1e7);
    else if (option == "--samples") config.samples = value;
    else throw usage_error("unknown option '" + std::string(option) + "'");
  }
  if (config.rate > 0 && config.bytes < sizeof(std::int64_t))
    throw usage_error("--rate needs --bytes of at least 8, for each frame's send time");
  return config;
}

/// Libzmq's default queue depths, written out because zpipe sets its own on
/// purpose; no linger, as a stalled run must not hang at exit.
zmq::socket_t open_socket(zmq::context_t& context, zmq::socket_type type) {
  zmq::socket_t socket(context, type);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, 1000);
  socket.set(zmq::sockopt::rcvhwm, 1000);
  socket.set(zmq::sockopt::sndtimeo, static_cast<int>(wait_step.count()));
  socket.set(zmq::sockopt::rcvtimeo, static_cast<int>(wait_step.count()));
  return socket;
}

std::string bind_ephemeral(zmq::socket_t& socket) {
  socket.bind("tcp://127.0.0.1:*");
  return socket.get(zmq::sockopt::last_endpoint);
}

/// Counts peers whose ZMTP handshake with the monitored socket completed.
class HandshakeCounter : public zmq::monitor_t {
 public:
  unsigned completed = 0;
  void on_event_handshake_succeeded(const zmq_event_t&, const char*) override { ++completed; }
};

/// Returns an error message, or an empty string once `count` peers are connected.
std::string await_handshakes(zmq::socket_t& socket, unsigned count) {
  HandshakeCounter handshakes;
  handshakes.init(socket, "inproc://raw-relay-ventilator-monitor", ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  for (int idle_steps = 0; handshakes.completed < count; ++idle_steps) {
    if (idle_steps == steps_to_stall)
      return "ventilator: " + std::to_string(handshakes.completed) + " of " + std::to_string(count) +
             " workers connected in 10 s";
    handshakes.check_event(static_cast<int>(wait_step.count()));
  }
  handshakes.abort();
  return {};
}

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void run_ventilator(std::stop_token stop, zmq::socket_t& socket, const RelayConfig& config, std::string& error) {
  try {
    std::vector<std::byte> payload(config.bytes, std::byte{0x5a});
    // 1 ns of timer slack instead of 50 µs: with --rate the schedule is measured.
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    const Clock::time_point start = Clock::now();
    const std::chrono::duration<double> period(config.rate > 0 ? 1.0 / config.rate : 0.0);
    for (std::uint64_t sent = 0; sent < config.messages; ++sent) {
      if (config.rate > 0) {
        std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(sent)));
        const std::int64_t now = monotonic_ns();
        std::memcpy(payload.data(), &now, sizeof now);
      }
      for (int idle_steps = 0; !socket.send(zmq::buffer(payload), zmq::send_flags::none); ++idle_steps) {
        if (stop.stop_requested()) return;
        if (idle_steps == steps_to_stall) {
          error = "ventilator: no worker took a frame for 10 s after " + std::to_string(sent) + " frames";
          return;
        }
      }
    }
  } catch (const std::exception& e) {
    error = std::string("ventilator: ") + e.what();
  }
}

void run_worker(std::stop_token stop, const std::string& ventilator, const std::string& sink, std::string& error) {
  try {
    zmq::context_t context;
    zmq::socket_t tasks = open_socket(context, zmq::socket_type::pull);
    zmq::socket_t results = open_socket(context, zmq::socket_type::push);
    tasks.connect(ventilator);
    results.connect(sink);
    zmq::message_t frame;
    // Idle until stopped: a worker cannot know its share of the frames.
    for (int idle_steps = 0; !stop.stop_requested();) {
      if (!tasks.recv(frame)) {
        if (++idle_steps == steps_to_stall) {
          error = "worker: no frame from the ventilator for 10 s";
          return;
        }
        continue;
      }
      idle_steps = 0;
      while (!results.send(frame, zmq::send_flags::none)) {
        if (stop.stop_requested()) return;
        if (++idle_steps == steps_to_stall) {
          error = "worker: the sink took no frame for 10 s";
          return;
        }
      }
    }
  } catch (const std::exception& e) {
    error = std::string("worker: ") + e.what();
  }
}

/// Returns an error message, or an empty string once all frames are in.
/// With --rate, adds each frame's send-to-receive time to `latencies`.
std::string receive_all(zmq::socket_t& socket, const RelayConfig& config, zpipe::bench::LatencySamples& latencies) {
  zmq::message_t frame;
  for (std::uint64_t received = 0; received < config.messages; ++received) {
    int idle_steps = 0;
    while (!socket.recv(frame)) {
      if (++idle_steps == steps_to_stall)
        return "sink: no frame for 10 s after " + std::to_string(received) + " of " +
               std::to_string(config.messages);
    }
    if (frame.size() != config.bytes)
      return "sink: a frame of " + std::to_string(frame.size()) + " bytes, not " + std::to_string(config.bytes);
    if (config.rate > 0) {
      const std::int64_t now = monotonic_ns();
      std::int64_t sent = 0;
      std::memcpy(&sent, frame.data(), sizeof sent);
      latencies.add(now - sent);
    }
  }
  return {};
}

int run_relay(const RelayConfig& config) {
  zmq::context_t sink_context;
  zmq::socket_t sink = open_socket(sink_context, zmq::socket_type::pull);
  const std::string sink_endpoint = bind_ephemeral(sink);
  zmq::context_t ventilator_context;
  zmq::socket_t ventilator = open_socket(ventilator_context, zmq::socket_type::push);
  const std::string ventilator_endpoint = bind_ephemeral(ventilator);

  // Declared after the sockets they use: leaving scope stops and joins them first.
  std::vector<std::string> errors(config.workers + 1);
  std::vector<std::jthread> stages;
  for (unsigned i = 0; i < config.workers; ++i)
    stages.emplace_back(run_worker, std::cref(ventilator_endpoint), std::cref(sink_endpoint), std::ref(errors[i]));
  std::string error = await_handshakes(ventilator, config.workers);
  const Clock::time_point start = Clock::now();
  zpipe::bench::LatencySamples latencies;
  if (config.rate > 0) {
    latencies.reserve(config.messages);
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  }
  if (error.empty()) {
    stages.emplace_back(run_ventilator, std::ref(ventilator), std::cref(config), std::ref(errors.back()));
    error = receive_all(sink, config, latencies);
  }
  const std::chrono::duration<double> elapsed = Clock::now() - start;
  stages.clear();  // requests stop and joins

  errors.push_back(error);
  bool failed = false;
  for (const std::string& stage_error : errors) {
    if (stage_error.empty()) continue;
    std::cerr << "raw-relay: " << stage_error << '\n';
    failed = true;
  }
  if (failed) return 1;
  if (config.rate > 0) {
    latencies.finish();
    latencies.summary(std::cout);
    if (!config.samples.empty()) latencies.write_cdf(config.samples);
    return 0;
  }
  std::cout << static_cast<std::uint64_t>(static_cast<double>(config.messages) / elapsed.count()) << '\n';
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::optional<RelayConfig> config = parse_options(argc, argv);
    return config ? run_relay(*config) : 0;
  } catch (const usage_error& e) {
    std::cerr << "raw-relay: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "raw-relay: " << e.what() << '\n';
    return 1;
  }
}
