// zpipe-many-workers: what one ventilator costs per connected worker. It
// starts a real zpipe-sink and zpipe-ventilator (--count TASKS, --min-workers
// W), then W simulated workers that speak the protocol as worker/worker.cpp
// does (hello with a window and kinds, a result per task to the sink with
// the frame's leases, a credit per frame, credit{0} keep-alives, hello again
// on hello_again, gone on job_end), each on its own DEALER connection. Two
// departures from a real worker keep ten thousand of them within one
// shared machine's reach: a keep-alive goes after 1 s of silence, not
// 250 ms, and the ventilator runs with --worker-timeout 10000, so a
// process starved of CPU for a few seconds is not taken for gone. It
// prints one line of figures on stdout:
//
//   workers=W processes=P base_kib peak_kib per_worker_bytes deal_s frames
//   us_per_frame tasks_min tasks_median tasks_max
//
// base_kib is the ventilator's VmHWM once the sink has accepted the job and
// before any worker connects; peak_kib its peak RSS over the whole run
// (getrusage of the child, exact); per_worker_bytes = (peak - base) / W.
// deal_s runs from the first task frame any worker received to the last
// result any worker sent. The tasks_* figures are the spread of tasks per
// worker.
//
// One simulated worker needs two descriptors (its TCP connection and its
// socket's mailbox); where the hard limit on descriptors is too low for W in
// one process (20,000 is common) the workers are split over several forked
// processes, each with one context and one epoll loop. The simulated workers
// of a process share one DEALER to the sink: the sink is not what is measured,
// and in plaintext a lease names no key, so the sink takes their results as
// it takes any worker's. Every wait is bounded by --seconds; the programs
// started here are killed when it passes.
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "zpipe/codec.hpp"
#include "zpipe/sockets.hpp"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Options {
  fs::path build = "build";
  std::uint32_t workers = 100;
  std::uint64_t tasks = 1'000'000;
  std::uint32_t batch = 1;
  std::uint32_t window = 2;
  std::uint32_t per_process = 0;  // 0: as many as the descriptor limit allows
  int seconds = 300;
  bool keep = false;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "zpipe-many-workers: " << why << "\n"
            << "usage: zpipe-many-workers [--build DIR] [--workers W] [--tasks N] [--batch B] [--window F]\n"
            << "                          [--per-process N] [--seconds S] [--keep]\n"
            << "  --build DIR      the build tree holding sink/zpipe-sink and ventilator/zpipe-ventilator (build)\n"
            << "  --workers W      simulated workers, 1 to 100000 (100)\n"
            << "  --tasks N        square tasks in the job (1000000)\n"
            << "  --batch B        the ventilator's --batch (1)\n"
            << "  --window F       each worker's hello window, in frames (2, as a one-thread worker)\n"
            << "  --per-process N  workers per forked process (default: what the descriptor limit allows)\n"
            << "  --seconds S      the whole run's bound; everything is killed after it (300)\n"
            << "  --keep           keep the programs' logs (their folder is printed on stderr)\n"
            << "Exit status: 0 when the job completed, 1 when it did not (logs on stderr), 2 usage.\n";
  std::exit(2);
}

std::uint64_t number(const std::string& option, const char* text, std::uint64_t low, std::uint64_t high) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < low || value > high)
    usage(option + " must be a number from " + std::to_string(low) + " to " + std::to_string(high));
  return value;
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--keep") {
      options.keep = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") usage("measures a ventilator with many workers");
    if (i + 1 >= argc) usage(arg + " needs a value");
    const char* value = argv[++i];
    if (arg == "--build") options.build = value;
    else if (arg == "--workers") options.workers = static_cast<std::uint32_t>(number(arg, value, 1, 100'000));
    else if (arg == "--tasks") options.tasks = number(arg, value, 1, 1'000'000'000);
    else if (arg == "--batch") options.batch = static_cast<std::uint32_t>(number(arg, value, 1, 65536));
    else if (arg == "--window") options.window = static_cast<std::uint32_t>(number(arg, value, 1, 65536));
    else if (arg == "--per-process") options.per_process = static_cast<std::uint32_t>(number(arg, value, 1, 100'000));
    else if (arg == "--seconds") options.seconds = static_cast<int>(number(arg, value, 1, 3600));
    else usage("unknown option '" + arg + "'");
  }
  return options;
}

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// ---- the simulated workers (one forked process's share) ----

struct SimWorker {
  zmq::socket_t socket;
  std::string name;
  std::uint64_t tasks = 0;
  Clock::time_point last_sent{};
  bool up = false;  // its first handshake is done and its hello sent
  bool ended = false;
};

class WorkerFarm {
 public:
  WorkerFarm(const Options& options, const std::string& ventilator, const std::string& sink, std::uint32_t first,
             std::uint32_t count)
      : options_(options), ventilator_(ventilator), context_(1) {
    context_.set(zmq::ctxopt::max_sockets, static_cast<int>(count + 64));
    to_sink_ = zpipe::open_socket(context_, zmq::socket_type::dealer, zpipe::client_settings(zpipe::task_link_settings()));
    to_sink_.connect(sink);
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
    workers_.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) workers_.emplace_back().name = "sim-" + std::to_string(first + i);
  }
  ~WorkerFarm() {
    for (auto& worker : workers_)
      if (worker.socket) worker.socket.set(zmq::sockopt::linger, 0);
    to_sink_.set(zmq::sockopt::linger, 2000);  // results already acknowledged; a bound all the same
    if (epoll_ >= 0) ::close(epoll_);
  }

  // Serves until every worker was told job_end or the deadline passes.
  bool run(Clock::time_point deadline) {
    std::vector<epoll_event> events(1024);
    while (ended_ < workers_.size()) {
      const auto now = Clock::now();
      if (now >= deadline) return false;
      connect_more();
      const int ready = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 10);
      if (ready < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
      for (int i = 0; i < ready; ++i) drain(workers_[events[i].data.u32]);
      keep_alive(Clock::now());
    }
    return true;
  }

  void report(const fs::path& file) const {
    std::ofstream out(file);
    out << first_task_ns_ << ' ' << last_result_ns_ << ' ' << rejected_ << '\n';
    for (const auto& worker : workers_) out << worker.tasks << '\n';
    if (!out) throw std::runtime_error("cannot write " + file.string());
  }

 private:
  // Workers connect a few at a time, as a cluster's workers start: ten
  // thousand handshakes at once overflow the listen backlog (libzmq's
  // default is 100), and a SYN dropped there is sent again only after a
  // second or more. With ZMQ_IMMEDIATE a DEALER can send only once its
  // handshake is done, which is how this tells that a connection is up.
  void connect_more() {
    for (auto at = pending_.begin(); at != pending_.end();) {
      SimWorker& worker = workers_[*at];
      if ((worker.socket.get(zmq::sockopt::events) & ZMQ_POLLOUT) == 0) {
        ++at;
        continue;
      }
      worker.up = true;
      say_hello(worker);
      drain(worker);
      at = pending_.erase(at);
    }
    while (pending_.size() < handshakes_at_once && next_ < workers_.size()) {
      SimWorker& worker = workers_[next_];
      // As a real worker's, without heartbeats: this process holds thousands
      // of connections, and libzmq's timer scan would take its I/O thread.
      zpipe::SocketSettings settings = zpipe::client_settings(zpipe::task_link_settings());
      settings.heartbeat_interval = std::chrono::milliseconds{0};
      worker.socket = zpipe::open_socket(context_, zmq::socket_type::dealer, settings);
      worker.socket.set(zmq::sockopt::immediate, 1);
      worker.socket.connect(ventilator_);
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u32 = next_;
      const int fd = worker.socket.get(zmq::sockopt::fd);
      if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event) != 0)
        throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
      pending_.push_back(next_++);
    }
  }

  // A send that finds no connection (it broke; libzmq reconnects) is
  // dropped: the ventilator takes the worker for gone, and its hello_again
  // to the new connection's credits brings a new hello.
  void send(SimWorker& worker, const zpipe::Message& message) {
    zpipe::encode(message, frame_);
    zpipe::send_frame(worker.socket, frame_, false);
    worker.last_sent = Clock::now();
  }
  void say_hello(SimWorker& worker) {
    send(worker, zpipe::Hello{worker.name, options_.window, std::vector<std::string>{"square"}});
  }

  // Receives until the socket has nothing more; a send on the socket may
  // have taken the descriptor's wake-up, so this is called after sends too.
  void drain(SimWorker& worker) {
    zmq::message_t message;
    while (worker.socket.recv(message, zmq::recv_flags::dontwait)) handle(worker, message);
  }

  void handle(SimWorker& worker, const zmq::message_t& frame) {
    zpipe::Message message;
    try {
      message = zpipe::decode(zpipe::view(frame));
    } catch (const zpipe::codec_error&) {
      ++rejected_;
      return;
    }
    if (auto* batch = std::get_if<zpipe::TaskBatch>(&message)) {
      if (first_task_ns_ == 0) first_task_ns_ = monotonic_ns();
      results_.job = batch->job;
      results_.worker = worker.name;
      results_.results.clear();
      for (std::size_t i = 0; i < batch->tasks.size(); ++i) {
        const std::int64_t n = zpipe::as_integer(batch->tasks[i].payload).value_or(0);
        results_.results.push_back(zpipe::Result{batch->tasks[i].id, true, zpipe::Value{n * n}, batch->attempt(i)});
      }
      results_.leases = std::move(batch->leases);
      zpipe::encode(results_, frame_);
      zpipe::send_frame(to_sink_, frame_);
      worker.tasks += batch->tasks.size();
      last_result_ns_ = monotonic_ns();
      send(worker, zpipe::Credit{1});
    } else if (std::holds_alternative<zpipe::JobEnd>(message)) {
      if (!worker.ended) ++ended_;
      worker.ended = true;
    } else if (std::holds_alternative<zpipe::HelloAgain>(message)) {
      say_hello(worker);
    } else {
      ++rejected_;
    }
  }

  // PROTOCOL.md §6.2.5 asks for one within 250 ms of silence; 1 s is well
  // inside the --worker-timeout given to the ventilator (see the top).
  void keep_alive(Clock::time_point now) {
    if (now < next_keep_alive_) return;
    next_keep_alive_ = now + std::chrono::milliseconds(100);
    for (auto& worker : workers_) {
      if (!worker.up || worker.ended || now - worker.last_sent < std::chrono::seconds(1)) continue;
      send(worker, zpipe::Credit{0});
      drain(worker);
    }
  }

  static constexpr std::size_t handshakes_at_once = 64;

  const Options& options_;
  std::string ventilator_;
  zmq::context_t context_;
  zmq::socket_t to_sink_;
  std::vector<SimWorker> workers_;
  std::vector<std::uint32_t> pending_;  // connecting, hello not sent yet
  std::uint32_t next_ = 0;              // the next worker to connect
  int epoll_ = -1;
  std::size_t ended_ = 0;
  std::uint64_t rejected_ = 0;
  std::int64_t first_task_ns_ = 0;
  std::int64_t last_result_ns_ = 0;
  Clock::time_point next_keep_alive_{};
  zpipe::ResultBatch results_;
  std::string frame_;
};

// ---- the programs measured ----

struct Program {
  pid_t pid = -1;
  fs::path log;
};

Program spawn(const fs::path& log, std::vector<std::string> args) {
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen(log.c_str(), "w", stderr);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  return Program{pid, log};
}

// The rest of the first log line that holds `marker`, once it is there.
std::optional<std::string> wait_for_line(const Program& program, const std::string& marker,
                                         Clock::time_point deadline) {
  while (Clock::now() < deadline) {
    std::ifstream in(program.log);
    for (std::string line; std::getline(in, line);)
      if (const auto at = line.find(marker); at != std::string::npos) return line.substr(at + marker.size());
    if (waitpid(program.pid, nullptr, WNOHANG) == program.pid) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

std::uint64_t vm_hwm_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}

// Waits for `pid` until the deadline; its exit status and peak RSS (KiB), or
// nullopt when the deadline passed.
struct Exit {
  int status = -1;
  std::uint64_t max_rss_kib = 0;
};
std::optional<Exit> wait_until(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    rusage usage{};
    const pid_t done = wait4(pid, &status, WNOHANG, &usage);
    if (done == pid)
      return Exit{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                  static_cast<std::uint64_t>(usage.ru_maxrss)};
    if (done < 0) return Exit{};
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void kill_and_reap(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

void show_tail(const fs::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::cerr << "--- last lines of " << log << ":\n";
  for (std::size_t i = lines.size() > 15 ? lines.size() - 15 : 0; i < lines.size(); ++i) std::cerr << lines[i] << "\n";
}

std::uint32_t workers_per_process(const Options& options) {
  if (options.per_process != 0) return options.per_process;
  const std::uint64_t limit = zpipe::raise_descriptor_limit();
  // Two descriptors a worker, and room for the context, the sink link, stdio.
  const std::uint64_t fit = limit > 200 ? (limit - 200) / 2 : 1;
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(fit, 1, 5000));
}

int run(const Options& options) {
  const auto deadline = Clock::now() + std::chrono::seconds(options.seconds);
  const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "zpipe-many-workers.XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot make a temporary folder");
    return fs::path(pattern);
  }();
  std::vector<pid_t> started;
  const auto fail = [&](const std::string& why) {
    std::cerr << "zpipe-many-workers: " << why << "\n";
    for (const char* name : {"sink.err", "ventilator.err"})
      if (fs::exists(dir / name)) show_tail(dir / name);
    for (const pid_t pid : started) kill_and_reap(pid);
    if (!options.keep) fs::remove_all(dir);
    return 1;
  };

  const Program sink = spawn(dir / "sink.err", {(options.build / "sink/zpipe-sink").string(), "--bind",
                                                "tcp://127.0.0.1:*", "--output", "/dev/null", "--progress", "never"});
  started.push_back(sink.pid);
  const auto sink_line = wait_for_line(sink, "collecting results at ", deadline);
  if (!sink_line) return fail("the sink did not say where it listens");
  const std::string sink_endpoint = sink_line->substr(0, sink_line->find(' '));

  const Program ventilator = spawn(
      dir / "ventilator.err",
      {(options.build / "ventilator/zpipe-ventilator").string(), "--bind", "tcp://127.0.0.1:*", "--sink", sink_endpoint,
       "--count", std::to_string(options.tasks), "--kind", "square", "--batch", std::to_string(options.batch),
       "--min-workers", std::to_string(options.workers), "--worker-timeout", "10000"});
  started.push_back(ventilator.pid);
  const auto vent_line = wait_for_line(ventilator, "workers connect to ", deadline);
  if (!vent_line) return fail("the ventilator did not say where workers connect");
  const std::string vent_endpoint = vent_line->substr(0, vent_line->find(','));
  if (!wait_for_line(ventilator, "sink accepted the job", deadline)) return fail("the sink did not accept the job");
  const std::uint64_t base_kib = vm_hwm_kib(ventilator.pid);

  const std::uint32_t per_process = workers_per_process(options);
  std::vector<pid_t> farms;
  for (std::uint32_t first = 0; first < options.workers; first += per_process) {
    const std::uint32_t count = std::min(per_process, options.workers - first);
    const pid_t pid = fork();
    if (pid < 0) return fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
      int status = 1;
      try {
        WorkerFarm farm(options, vent_endpoint, sink_endpoint, first, count);
        if (farm.run(deadline)) {
          farm.report(dir / ("farm-" + std::to_string(first) + ".txt"));
          status = 0;
        } else {
          std::cerr << "zpipe-many-workers: workers " << first << "+" << count << " not told job_end in time\n";
        }
      } catch (const std::exception& error) {
        std::cerr << "zpipe-many-workers: workers " << first << "+" << count << ": " << error.what() << "\n";
      }
      std::fflush(nullptr);
      _exit(status);
    }
    farms.push_back(pid);
    started.push_back(pid);
  }

  const auto vent_exit = wait_until(ventilator.pid, deadline);
  if (!vent_exit) return fail("the job did not end within --seconds " + std::to_string(options.seconds));
  std::erase(started, ventilator.pid);
  if (vent_exit->status != 0) return fail("the ventilator exited with status " + std::to_string(vent_exit->status));
  for (const pid_t pid : farms) {
    const auto farm_exit = wait_until(pid, deadline);
    if (!farm_exit || farm_exit->status != 0) return fail("a process of simulated workers failed");
    std::erase(started, pid);
  }
  const auto sink_exit = wait_until(sink.pid, deadline);
  if (!sink_exit || sink_exit->status != 0) return fail("the sink did not exit 0");
  started.clear();

  std::int64_t first_task = 0, last_result = 0;
  std::uint64_t rejected = 0;
  std::vector<std::uint64_t> tasks;
  for (std::uint32_t first = 0; first < options.workers; first += per_process) {
    std::ifstream in(dir / ("farm-" + std::to_string(first) + ".txt"));
    std::int64_t from = 0, to = 0;
    std::uint64_t bad = 0;
    in >> from >> to >> bad;
    if (from != 0 && (first_task == 0 || from < first_task)) first_task = from;
    last_result = std::max(last_result, to);
    rejected += bad;
    for (std::uint64_t count = 0; in >> count;) tasks.push_back(count);
  }
  if (tasks.size() != options.workers) return fail("a process of simulated workers reported no counts");
  if (rejected > 0) return fail(std::to_string(rejected) + " frame(s) from the ventilator did not decode");
  std::sort(tasks.begin(), tasks.end());
  const std::uint64_t peak_kib = vent_exit->max_rss_kib;
  const double per_worker = (static_cast<double>(peak_kib) - static_cast<double>(base_kib)) * 1024.0 / options.workers;
  const double deal_s = static_cast<double>(last_result - first_task) / 1e9;
  const std::uint64_t frames = (options.tasks + options.batch - 1) / options.batch;
  std::printf("workers=%u processes=%zu base_kib=%llu peak_kib=%llu per_worker_bytes=%.0f deal_s=%.3f frames=%llu "
              "us_per_frame=%.3f tasks_min=%llu tasks_median=%llu tasks_max=%llu\n",
              options.workers, farms.size(), static_cast<unsigned long long>(base_kib),
              static_cast<unsigned long long>(peak_kib), per_worker, deal_s, static_cast<unsigned long long>(frames),
              deal_s * 1e6 / static_cast<double>(frames), static_cast<unsigned long long>(tasks.front()),
              static_cast<unsigned long long>(tasks[tasks.size() / 2]), static_cast<unsigned long long>(tasks.back()));
  if (options.keep) std::cerr << "zpipe-many-workers: logs in " << dir << "\n";
  else fs::remove_all(dir);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& error) {
    std::cerr << "zpipe-many-workers: " << error.what() << "\n";
    return 1;
  }
}
