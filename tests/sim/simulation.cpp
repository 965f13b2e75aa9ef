// See simulation.hpp.
#include "sim/simulation.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "worker_core.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/sink_core.hpp"
#include "zpipe/task_source.hpp"
#include "zpipe/ventilator_core.hpp"

namespace zpipe::sim {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::microseconds;

constexpr Duration heartbeat_timeout = 5s;  // socket settings: ZMTP heartbeats
constexpr Duration linger = 2s;             // socket settings: close waits this long to deliver
constexpr Duration settle_limit = 120s;     // after the last fault, the job must end within this
constexpr std::size_t trace_lines = 60;
constexpr std::size_t ledger_bytes_at_most = (std::size_t{1} << 24) / 8 + 4096;
constexpr std::string_view job_kind = "square";
constexpr auto kind_timeout = std::chrono::milliseconds(30s);

// A broken invariant: ends the seed.
struct Broken : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Random {
 public:
  explicit Random(std::uint64_t seed) : engine_(seed) {}
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : engine_() % n; }
  bool chance(double p) { return static_cast<double>(engine_() >> 11) * 0x1.0p-53 < p; }
  Duration between(Duration low, Duration high) {
    return low + Duration(static_cast<std::int64_t>(below(static_cast<std::uint64_t>((high - low).count()) + 1)));
  }

 private:
  std::mt19937_64 engine_;
};

enum class Kind { ventilator, sink, worker };

struct Process {
  Process(Kind kind_, std::string name_) : kind(kind_), name(std::move(name_)) {}
  Kind kind;
  std::string name;
  bool alive = true;
  bool exited = false;  // exited on its own: its frames still drain for `linger`
  bool hung = false;
  std::uint64_t incarnation = 0;
  std::optional<int> exit_status;
};

// One direction of a connection: frames with the time they may arrive.
struct Pipe {
  std::deque<std::pair<TimePoint, std::string>> frames;
  TimePoint last{};
  bool drain_scheduled = false;
};

// A connection from a DEALER (client) to a ROUTER (server).
struct Link {
  std::string name;
  std::size_t client = 0;
  std::size_t server = 0;
  bool connected = false;
  bool connecting = false;
  bool cut = false;
  std::uint64_t generation = 0;
  std::optional<TimePoint> stalled_since;
  Pipe up;    // client to server
  Pipe down;  // server to client
  [[nodiscard]] std::string routing_id() const { return name + "#" + std::to_string(generation); }
};

class World;

class VentilatorNode final : public VentilatorEffects {
 public:
  explicit VentilatorNode(World& world) : world_(world) {}
  bool send_to_worker(std::string_view peer, std::string& frame) override;
  void send_to_sink(std::string_view frame) override;
  void log(std::string_view line) override;
  std::optional<VentilatorCore> core;
  std::deque<std::string> outbox;  // failures waiting for the sink link, as the program keeps them

 private:
  World& world_;
};

class SinkNode final : public SinkEffects {
 public:
  explicit SinkNode(World& world) : world_(world) {}
  bool send(std::string_view peer, std::string_view frame) override;
  void write_output(std::string_view bytes) override;
  void journal_append(std::string_view frame) override;
  void journal_sync() override;
  void log(std::string_view line) override;
  std::optional<SinkCore> core;

 private:
  World& world_;
};

class WorkerNode final : public WorkerEffects {
 public:
  WorkerNode(World& world, std::size_t process) : world_(world), process_(process) {}
  bool send_to_ventilator(std::string_view frame) override;
  std::size_t drop_queued() override {
    const std::size_t dropped = queue.size();
    queue.clear();
    return dropped;
  }
  void log(std::string_view line) override;
  std::optional<WorkerCore> core;
  std::deque<std::pair<std::string, std::uint64_t>> queue;  // task frames and their epochs
  struct Unsent {
    std::string frame;
    std::uint64_t epoch = 0;
    std::uint32_t task_frames = 0;  // credits it returns once sent
  };
  std::deque<Unsent> unsent;  // results frames the sink link cannot take yet
  bool busy = false;
  Duration per_task{100};
  std::uint32_t window = 2;
  // What its hello says it runs: absent for a worker older than kinds.
  std::optional<std::vector<std::string>> kinds = std::vector<std::string>{"fail", "square"};
  std::uint32_t bundle = 1;  // hello.bundle (sent only with kinds)
  [[nodiscard]] bool runs(std::string_view kind) const {
    return !kinds || std::find(kinds->begin(), kinds->end(), kind) != kinds->end();
  }

 private:
  World& world_;
  std::size_t process_;
};

struct Scenario {
  std::uint64_t tasks = 100;
  std::uint32_t batch = 1;
  std::uint64_t max_in_flight = 256;
  std::uint32_t max_attempts = 3;
  std::size_t workers = 2;
  Duration faults_until{0};
  Duration mean_fault_gap{300ms};
  std::set<TaskId> poison;
  // --retries, and tasks that fail every attempt below theirs here (so a
  // task whose attempt is at most retries + 1 must end ok, any other failed).
  std::uint32_t retries = 0;
  std::map<TaskId, std::uint32_t> flaky;
  double duplicate = 0;
  bool forger = false;  // the first worker also sends results for tasks it was never dealt
  Duration task_timeout{0};  // --task-timeout, or 0
  bool cancel = false;
  // Kinds: a mixed pool (some workers lack the job's kind, some are older
  // than kinds), one where the kind arrives only with a late worker, and
  // one where no worker ever runs it (the job is cancelled, exit 3).
  bool mixed_kinds = false;
  std::optional<Duration> kind_arrives_late;
  bool kind_never = false;
  // The sink's --keep-order and --reorder-buffer.
  bool keep_order = false;
  std::uint64_t reorder_buffer = 0;
  [[nodiscard]] std::string text() const {
    std::string out = std::to_string(tasks) + " tasks, batch " + std::to_string(batch) + ", " +
                      std::to_string(workers) + " workers, max in flight " + std::to_string(max_in_flight) +
                      ", faults for " + std::to_string(faults_until.count() / 1000) + " ms";
    if (!poison.empty()) out += ", " + std::to_string(poison.size()) + " poison";
    if (!flaky.empty()) out += ", " + std::to_string(flaky.size()) + " flaky";
    if (retries > 0) out += ", --retries " + std::to_string(retries);
    if (duplicate > 0) out += ", duplicated frames";
    if (forger) out += ", a forging worker";
    if (task_timeout.count() > 0) out += ", --task-timeout " + std::to_string(task_timeout.count() / 1000) + " ms";
    if (cancel) out += ", cancelled";
    if (mixed_kinds) out += ", mixed kinds";
    if (kind_arrives_late) out += ", kind arrives after " + std::to_string(kind_arrives_late->count() / 1000) + " ms";
    if (kind_never) out += ", no worker runs the kind";
    if (keep_order) out += ", --keep-order --reorder-buffer " + std::to_string(reorder_buffer);
    return out;
  }
};

class World {
 public:
  explicit World(std::uint64_t seed) : random_(seed), seed_(seed), ventilator_(*this), sink_(*this) {}

  Outcome run(bool keep_trace);

  // Effects of the nodes.
  bool router_send(std::size_t server, std::string_view peer, std::string_view frame);
  bool dealer_send(std::size_t link, std::string_view frame);
  void flush_results(std::size_t process);
  void output(std::string_view bytes);
  void journal_append(std::string_view frame) { journal_.emplace_back(frame); }
  void journal_sync();
  void trace(std::string line);
  [[nodiscard]] std::size_t link_of(std::size_t client, std::size_t server) const {
    return links_by_ends_.at({client, server});
  }

 private:
  static constexpr std::size_t ventilator = 0;
  static constexpr std::size_t sink = 1;

  void choose_scenario();
  void start_ventilator(bool resume);
  void start_sink();
  void start_worker(std::size_t process);
  std::size_t add_worker(std::optional<bool> runs_kind = std::nullopt);
  void add_link(std::size_t client, std::size_t server, std::string name);

  void at(Duration delay, std::function<void()> action);
  bool up(std::size_t process) const { return processes_[process].alive && !processes_[process].exited; }
  bool stalled(const Link& link) const {
    return link.cut || processes_[link.client].hung || processes_[link.server].hung;
  }
  void update(std::size_t link);
  void connect(std::size_t link);
  void break_link(std::size_t link, const std::string& why);
  void schedule_drain(std::size_t link, bool upward);
  void drain(std::size_t link, bool upward);
  void deliver(std::size_t link, bool upward, const std::string& frame);
  void deliver_to(std::size_t to, const Link& link, bool upward, const std::string& frame, const Message& message);
  void deliver_to_worker(std::size_t process, const std::string& frame);
  void run_next_frame(std::size_t process);
  void finish_frame(std::size_t process, std::uint64_t incarnation, const TaskBatch& batch, std::uint64_t epoch);
  void after(std::size_t process);
  // Whether a frame to `process` could be delivered now.
  [[nodiscard]] bool frames_waiting_for(std::size_t process) const;
  void schedule_tick(std::size_t process);
  void exit_process(std::size_t process, int status);
  void kill(std::size_t process, const std::string& why);
  void restart(std::size_t process);
  void hang(std::size_t process, Duration length);
  void cut(std::vector<std::size_t> links, Duration length);
  void inject_fault();
  void check_invariants();
  void check_end();
  [[nodiscard]] bool finished() const;
  std::string now_text() const;
  std::string describe() const;

  Random random_;
  std::uint64_t seed_;
  Scenario scenario_;
  TimePoint start_ = TimePoint{} + std::chrono::hours(1);
  TimePoint now_ = start_;
  std::uint64_t next_event_ = 0;
  using Event = std::pair<std::pair<TimePoint, std::uint64_t>, std::function<void()>>;
  struct Later {
    bool operator()(const Event& a, const Event& b) const { return a.first > b.first; }
  };
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::uint64_t steps_ = 0;
  std::uint64_t rejected_ = 0;
  std::uint64_t events_run_ = 0;
  static constexpr std::uint64_t events_at_most = 20'000'000;
  std::deque<std::string> trace_;

  std::vector<Process> processes_;
  std::vector<Link> links_;
  std::map<std::pair<std::size_t, std::size_t>, std::size_t> links_by_ends_;
  std::map<std::string, std::size_t> links_by_name_;
  std::map<std::size_t, TimePoint> next_tick_;
  VentilatorNode ventilator_;
  SinkNode sink_;
  std::map<std::size_t, std::unique_ptr<WorkerNode>> workers_;

  // The sink's disk: records written, and how many of them are durable.
  std::vector<std::string> journal_;
  std::size_t durable_ = 0;
  std::size_t journal_base_ = 0;  // records before this sink started: its appends count from here
  std::set<TaskId> durable_ids_;
  std::set<TaskId> forger_dealt_;  // ids the forging worker was dealt: its own to answer
  // The output file: rewritten from the journal when the sink restarts.
  std::map<TaskId, std::string> printed_;  // id -> "ok:VALUE" or "error:REASON"
  std::string partial_line_;
  std::uint64_t sink_starts_ = 0;
  std::uint64_t ventilator_starts_ = 0;
  bool cancelled_ = false;
  bool ventilator_not_restarted_ = false;
  bool sink_took_job_ = false;
};

// --- effects ---------------------------------------------------------------

bool VentilatorNode::send_to_worker(std::string_view peer, std::string& frame) {
  return world_.router_send(0, peer, frame);
}
// As the program does: results wait for the link, a manifest or job_end that
// finds it down is dropped (they are sent again on a timer).
void VentilatorNode::send_to_sink(std::string_view frame) {
  if (outbox.empty() && world_.dealer_send(world_.link_of(0, 1), frame)) return;
  if (peek_type(frame) == MessageType::results) outbox.emplace_back(frame);
}
void VentilatorNode::log(std::string_view line) { world_.trace("ventilator: " + std::string(line)); }

bool SinkNode::send(std::string_view peer, std::string_view frame) { return world_.router_send(1, peer, frame); }
void SinkNode::write_output(std::string_view bytes) { world_.output(bytes); }
void SinkNode::journal_append(std::string_view frame) { world_.journal_append(frame); }
void SinkNode::journal_sync() { world_.journal_sync(); }
void SinkNode::log(std::string_view line) { world_.trace("sink: " + std::string(line)); }

bool WorkerNode::send_to_ventilator(std::string_view frame) {
  return world_.dealer_send(world_.link_of(process_, 0), frame);
}
void WorkerNode::log(std::string_view line) { world_.trace("worker" + std::to_string(process_) + ": " + std::string(line)); }

// --- the network -----------------------------------------------------------

void World::at(Duration delay, std::function<void()> action) {
  events_.push({{now_ + delay, next_event_++}, std::move(action)});
}

void World::add_link(std::size_t client, std::size_t server, std::string name) {
  links_.push_back(Link{});
  Link& link = links_.back();
  link.name = std::move(name);
  link.client = client;
  link.server = server;
  links_by_ends_[{client, server}] = links_.size() - 1;
  links_by_name_[link.name] = links_.size() - 1;
}

// Connects when both ends run and nothing cuts them; libzmq retries every 100 ms.
void World::update(std::size_t index) {
  Link& link = links_[index];
  if (link.connected || link.connecting) return;
  if (!up(link.client) || !up(link.server) || link.cut || processes_[link.client].hung) return;
  link.connecting = true;
  at(random_.between(1ms, 100ms), [this, index] { connect(index); });
}

void World::connect(std::size_t index) {
  Link& link = links_[index];
  link.connecting = false;
  if (link.connected || !up(link.client) || !up(link.server) || link.cut || processes_[link.client].hung ||
      processes_[link.server].hung) {
    update(index);
    return;
  }
  link.connected = true;
  ++link.generation;
  link.stalled_since.reset();
  trace("link " + link.routing_id() + " connected");
  // The handshake is the client's event; the server learns of the peer from its first frame.
  const std::size_t client = link.client;
  if (client == ventilator) {
    while (!ventilator_.outbox.empty() && dealer_send(index, ventilator_.outbox.front())) ventilator_.outbox.pop_front();
  }
  if (link.server == ventilator && link.client != sink) {
    workers_.at(client)->core->ventilator_connected(now_);
  } else if (link.server == sink && client == ventilator) {
    ventilator_.core->sink_connected(now_);
  } else if (link.server == sink) {
    workers_.at(client)->core->sink_connected(now_);
    flush_results(client);
  }
  schedule_drain(index, true);
  after(client);
}

// What was on its way is lost; a DEALER keeps what it sends from now on.
void World::break_link(std::size_t index, const std::string& why) {
  Link& link = links_[index];
  if (!link.connected) return;
  trace("link " + link.routing_id() + " broke: " + why);
  const std::string peer = link.routing_id();
  link.connected = false;
  link.up.frames.clear();
  link.down.frames.clear();
  link.stalled_since.reset();
  if (link.server == ventilator && up(ventilator) && !processes_[ventilator].hung) {
    ventilator_.core->worker_gone(peer, now_);
    after(ventilator);
  }
  if (link.server == sink && up(sink) && !processes_[sink].hung) {
    sink_.core->peer_gone(peer, now_);
    after(sink);
  }
  update(index);
}

bool World::router_send(std::size_t server, std::string_view peer, std::string_view frame) {
  const auto hash = peer.rfind('#');
  const auto found = links_by_name_.find(std::string(peer.substr(0, hash)));
  if (found == links_by_name_.end()) throw Broken("a ROUTER sent to an unknown peer " + std::string(peer));
  Link& link = links_[found->second];
  if (link.server != server) throw Broken("a ROUTER sent to a peer of another socket");
  if (!link.connected || link.routing_id() != peer) return false;
  Pipe& pipe = link.down;
  const int copies = random_.chance(scenario_.duplicate) && peek_type(frame) == MessageType::ack ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    pipe.last = std::max(pipe.last, now_ + random_.between(50us, 2ms));
    pipe.frames.emplace_back(pipe.last, std::string(frame));
  }
  schedule_drain(found->second, false);
  return true;
}

// A DEALER queues what it sends while it has no connection, and delivers it
// on the next one (what was on its way when a connection broke is lost).
bool World::dealer_send(std::size_t index, std::string_view frame) {
  Link& link = links_[index];
  Pipe& pipe = link.up;
  const int copies = random_.chance(scenario_.duplicate) && peek_type(frame) == MessageType::results ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    pipe.last = std::max(pipe.last, now_ + random_.between(50us, 2ms));
    pipe.frames.emplace_back(pipe.last, std::string(frame));
  }
  schedule_drain(index, true);
  return true;
}

void World::schedule_drain(std::size_t index, bool upward) {
  Link& link = links_[index];
  Pipe& pipe = upward ? link.up : link.down;
  if (pipe.drain_scheduled || pipe.frames.empty() || !link.connected || stalled(link)) return;
  pipe.drain_scheduled = true;
  const auto when = std::max(pipe.frames.front().first, now_);
  at(std::chrono::duration_cast<Duration>(when - now_), [this, index, upward] { drain(index, upward); });
}

void World::drain(std::size_t index, bool upward) {
  Pipe& pipe = upward ? links_[index].up : links_[index].down;
  pipe.drain_scheduled = false;
  const Link& link = links_[index];
  if (!link.connected || stalled(link) || pipe.frames.empty() || pipe.frames.front().first > now_) {
    schedule_drain(index, upward);
    return;
  }
  std::string frame = std::move(pipe.frames.front().second);
  pipe.frames.pop_front();
  deliver(index, upward, frame);
  schedule_drain(index, upward);
}

void World::deliver(std::size_t index, bool upward, const std::string& frame) {
  const Link& link = links_[index];
  const std::size_t to = upward ? link.server : link.client;
  if (!up(to)) return;  // an exiting process reads nothing more
  ++steps_;
  const Message message = decode(frame);
  trace("deliver " + std::string(message_name(message)) + (upward ? " up " : " down ") + link.routing_id());
  try {
    deliver_to(to, link, upward, frame, message);
  } catch (const codec_error& e) {
    // What the programs count and log as a rejected frame.
    ++rejected_;
    trace("rejected: " + std::string(e.what()));
  }
  after(to);
}

void World::deliver_to(std::size_t to, const Link& link, bool upward, const std::string& frame,
                       const Message& message) {
  // Every client proves a key of its own, as with CURVE: the ventilator's
  // admits it as the ventilator, each worker's as a worker.
  const PeerIdentity identity{std::string(32, static_cast<char>('A' + link.client)), processes_[link.client].name,
                              static_cast<Roles>(link.client == ventilator ? Role::ventilator : Role::worker)};
  if (to == ventilator) {
    if (upward) {
      ventilator_.core->worker_frame(link.routing_id(), identity, message, now_);
    } else {
      if (const auto* ack = std::get_if<Ack>(&message))
        for (auto [first, last] : ack->ranges)
          for (TaskId id = first; id <= last; ++id)
            if (!durable_ids_.contains(id))
              throw Broken("task " + std::to_string(id) + " was acknowledged but is not in the durable journal");
      ventilator_.core->sink_frame(message, now_);
    }
  } else if (to == sink) {
    sink_.core->frame(link.routing_id(), identity, frame, message, now_);
  } else if (link.server == ventilator) {
    deliver_to_worker(to, frame);
  }
}

void World::deliver_to_worker(std::size_t process, const std::string& frame) {
  WorkerNode& worker = *workers_.at(process);
  if (peek_type(frame) == MessageType::tasks) {
    if (!worker.runs(job_kind))
      throw Broken(processes_[process].name + " was dealt tasks of a kind its hello did not list");
    const auto frames = std::get<TaskBatch>(decode(frame)).frames;
    if (frames > (worker.kinds ? worker.bundle : 1))
      throw Broken(processes_[process].name + " was sent a bundle of " + std::to_string(frames) +
                   " frames, more than its hello allows");
    worker.queue.emplace_back(frame, worker.core->epoch());
    run_next_frame(process);
    return;
  }
  worker.core->ventilator_frame(decode(frame), now_);
}

// The worker's executor: one frame at a time, per_task for each task.
void World::run_next_frame(std::size_t process) {
  WorkerNode& worker = *workers_.at(process);
  if (worker.busy || worker.queue.empty() || !up(process) || processes_[process].hung) return;
  auto [frame, epoch] = std::move(worker.queue.front());
  worker.queue.pop_front();
  const auto batch = std::get<TaskBatch>(decode(frame));
  for (const Task& task : batch.tasks)
    if (scenario_.poison.contains(task.id)) {
      kill(process, "ran poison task " + std::to_string(task.id));
      at(random_.between(10ms, 500ms), [this, process] { restart(process); });
      return;
    }
  worker.busy = true;
  const std::uint64_t incarnation = processes_[process].incarnation;
  at(worker.per_task * static_cast<std::int64_t>(batch.tasks.size()),
     [this, process, incarnation, batch, epoch] { finish_frame(process, incarnation, batch, epoch); });
}

void World::finish_frame(std::size_t process, std::uint64_t incarnation, const TaskBatch& batch, std::uint64_t epoch) {
  if (processes_[process].incarnation != incarnation || !up(process)) return;
  if (processes_[process].hung) {  // it finishes once it runs again
    at(10ms, [this, process, incarnation, batch, epoch] { finish_frame(process, incarnation, batch, epoch); });
    return;
  }
  ResultBatch results{batch.job, processes_[process].name, {}, batch.leases};
  for (std::size_t i = 0; i < batch.tasks.size(); ++i) {
    const Task& task = batch.tasks[i];
    const auto n = std::get<std::int64_t>(task.payload);
    // The worker echoes each task's attempt; a flaky task fails below its own.
    const std::uint32_t attempt = batch.attempt(i);
    const auto flaky = scenario_.flaky.find(task.id);
    if (flaky != scenario_.flaky.end() && attempt < flaky->second)
      results.results.push_back(Result{task.id, false, Value{"flaky: attempt " + std::to_string(attempt)}, attempt});
    else
      results.results.push_back(Result{task.id, true, Value{n * n}, attempt});
  }
  WorkerNode& worker = *workers_.at(process);
  worker.unsent.push_back({encode(results), epoch, batch.frames});
  if (scenario_.forger && process == workers_.begin()->first) {
    // Wrong values for the ids after its own: under its leases as they are,
    // and under its leases stretched over them. The sink must take neither.
    // (An id it was ever dealt is its own to answer, wrongly or not: a
    // frame of ids with gaps, as retries and tasks dealt again make, can
    // hold an id shifted so, and a lease reaches back over the earlier
    // frames of its run, §6.5.2.)
    for (const Task& task : batch.tasks) forger_dealt_.insert(task.id);
    ResultBatch forged{batch.job, "ventilator", {}, batch.leases};
    for (const Task& task : batch.tasks) {
      const TaskId id = task.id + batch.tasks.size();
      if (!forger_dealt_.contains(id)) forged.results.push_back(Result{id, true, Value{-1}});
    }
    worker.unsent.push_back({encode(forged), epoch, 0});
    for (Lease& lease : forged.leases) lease.last += batch.tasks.size();
    worker.unsent.push_back({encode(forged), epoch, 0});
  }
  flush_results(process);
  worker.busy = false;
  run_next_frame(process);
  after(process);
}

// Results go to the sink in order; a frame's credit returns once it is sent.
void World::flush_results(std::size_t process) {
  WorkerNode& worker = *workers_.at(process);
  while (!worker.unsent.empty() && dealer_send(link_of(process, sink), worker.unsent.front().frame)) {
    worker.core->finished(worker.unsent.front().task_frames, worker.unsent.front().epoch);
    worker.unsent.pop_front();
  }
}

// --- processes -------------------------------------------------------------

void World::after(std::size_t process) {
  if (!up(process) || processes_[process].hung) return;
  if (process == ventilator) {
    ventilator_.core->tick(now_);
    if (const auto status = ventilator_.core->exit_status()) return exit_process(process, *status);
  } else if (process == sink) {
    // The program's pass over its socket ends with frames still waiting
    // under load; its journal then puts off a sync (SinkCore::tick).
    sink_.core->tick(now_, !frames_waiting_for(sink));
    if (sink_.core->has_job()) sink_took_job_ = true;
    if (const auto status = sink_.core->exit_status()) return exit_process(process, *status);
  } else {
    WorkerNode& worker = *workers_.at(process);
    worker.core->tick(now_, worker.window, worker.queue.empty() && !worker.busy);
    if (const auto status = worker.core->exit_status()) return exit_process(process, *status);
  }
  schedule_tick(process);
}

bool World::frames_waiting_for(std::size_t process) const {
  for (const Link& link : links_) {
    const Pipe* toward = link.server == process ? &link.up : link.client == process ? &link.down : nullptr;
    if (toward && link.connected && !toward->frames.empty() && toward->frames.front().first <= now_) return true;
  }
  return false;
}

void World::schedule_tick(std::size_t process) {
  TimePoint deadline = TimePoint::max();
  if (process == ventilator) deadline = ventilator_.core->next_deadline();
  else if (process == sink) deadline = sink_.core->next_deadline();
  else deadline = workers_.at(process)->core->next_deadline();
  // The programs wake at least every 100 ms whatever their deadline.
  deadline = std::min(deadline, now_ + 100ms);
  deadline = std::max(deadline, now_ + 1us);
  auto [pending, added] = next_tick_.try_emplace(process, deadline);
  if (!added && pending->second <= deadline && pending->second >= now_) return;
  pending->second = deadline;
  const std::uint64_t incarnation = processes_[process].incarnation;
  at(std::chrono::duration_cast<Duration>(deadline - now_), [this, process, incarnation, deadline] {
    if (processes_[process].incarnation != incarnation || next_tick_[process] != deadline) return;
    next_tick_[process] = TimePoint::min();
    ++steps_;
    after(process);
    if (process >= 2) run_next_frame(process);
  });
}

void World::exit_process(std::size_t process, int status) {
  Process& p = processes_[process];
  p.exited = true;
  p.exit_status = status;
  trace(p.name + " exited with " + std::to_string(status));
  const std::uint64_t incarnation = p.incarnation;
  // Closing waits up to the linger time to deliver what is queued.
  at(linger, [this, process, incarnation] {
    if (processes_[process].incarnation != incarnation) return;
    processes_[process].alive = false;
    for (std::size_t i = 0; i < links_.size(); ++i)
      if (links_[i].client == process || links_[i].server == process) break_link(i, "its process exited");
  });
}

void World::kill(std::size_t process, const std::string& why) {
  Process& p = processes_[process];
  if (!p.alive || p.exited) return;
  trace("kill -9 " + p.name + ": " + why);
  p.alive = false;
  p.hung = false;
  ++p.incarnation;
  next_tick_.erase(process);
  for (std::size_t i = 0; i < links_.size(); ++i)
    if (links_[i].client == process || links_[i].server == process) {
      links_[i].up.frames.clear();  // a dead DEALER's queue dies with it
      break_link(i, "process killed");
    }
  if (process == sink) {
    // A crash between a journal write and its sync loses what was not synced.
    journal_.resize(durable_);
  }
}

void World::restart(std::size_t process) {
  Process& p = processes_[process];
  if (p.alive || p.exited) return;
  if (process == ventilator && processes_[sink].exit_status) {
    // The sink answered the ventilator's job_end before the kill: the job is
    // over and nobody is left to tell a new ventilator so; an operator has
    // no reason to start one.
    trace("the sink has ended the job; the ventilator is not started again");
    ventilator_not_restarted_ = true;
    return;
  }
  p.alive = true;
  ++p.incarnation;
  trace("restart " + p.name);
  if (process == ventilator) start_ventilator(true);
  else if (process == sink) start_sink();
  else start_worker(process);
  for (std::size_t i = 0; i < links_.size(); ++i)
    if (links_[i].client == process || links_[i].server == process) update(i);
  after(process);
}

void World::hang(std::size_t process, Duration length) {
  Process& p = processes_[process];
  if (!up(process) || p.hung) return;
  trace("SIGSTOP " + p.name + " for " + std::to_string(length.count() / 1000) + " ms");
  p.hung = true;
  const std::uint64_t incarnation = p.incarnation;
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < links_.size(); ++i)
    if (links_[i].client == process || links_[i].server == process) mine.push_back(i);
  for (const auto i : mine) {
    if (!links_[i].stalled_since) links_[i].stalled_since = now_;
    const auto since = *links_[i].stalled_since;
    const auto generation = links_[i].generation;
    // A stopped process answers no heartbeat: its peers drop the connection.
    at(heartbeat_timeout, [this, i, since, generation] {
      if (links_[i].generation == generation && links_[i].stalled_since == since) break_link(i, "heartbeat timeout");
    });
  }
  at(length, [this, process, incarnation, mine] {
    if (processes_[process].incarnation != incarnation) return;
    processes_[process].hung = false;
    trace("SIGCONT " + processes_[process].name);
    for (const auto i : mine) {
      if (!stalled(links_[i])) links_[i].stalled_since.reset();
      schedule_drain(i, true);
      schedule_drain(i, false);
      update(i);
    }
    after(process);
    if (process >= 2) run_next_frame(process);
  });
}

void World::cut(std::vector<std::size_t> cut_links, Duration length) {
  for (const auto i : cut_links) {
    Link& link = links_[i];
    if (link.cut) continue;
    trace("cut " + link.name + " for " + std::to_string(length.count() / 1000) + " ms");
    link.cut = true;
    if (!link.stalled_since) link.stalled_since = now_;
    const auto since = *link.stalled_since;
    const auto generation = link.generation;
    at(heartbeat_timeout, [this, i, since, generation] {
      if (links_[i].generation == generation && links_[i].stalled_since == since) break_link(i, "heartbeat timeout");
    });
    at(length, [this, i] {
      Link& healed = links_[i];
      healed.cut = false;
      trace("heal " + healed.name);
      if (!stalled(healed)) healed.stalled_since.reset();
      schedule_drain(i, true);
      schedule_drain(i, false);
      update(i);
    });
  }
}

// --- the job ---------------------------------------------------------------

void World::choose_scenario() {
  Scenario& s = scenario_;
  s.tasks = 1 + random_.below(random_.chance(0.2) ? 2000 : 200);
  s.batch = static_cast<std::uint32_t>(1 + random_.below(random_.chance(0.5) ? 1 : 16));
  s.max_in_flight = 8 + random_.below(random_.chance(0.5) ? 64 : 1024);
  s.workers = 1 + random_.below(4);
  s.faults_until = random_.between(0ms, 8s);
  s.mean_fault_gap = random_.between(50ms, 1500ms);
  if (random_.chance(0.15)) s.poison.insert(1 + random_.below(s.tasks));
  if (random_.chance(0.2)) s.duplicate = 0.05;
  s.forger = random_.chance(0.15);
  if (random_.chance(0.3)) s.task_timeout = random_.between(200ms, 3s);
  s.cancel = random_.chance(0.08);
  if (random_.chance(0.25)) s.mixed_kinds = true;
  else if (random_.chance(0.06)) s.kind_arrives_late = random_.between(0ms, 20s);
  else if (random_.chance(0.03)) s.kind_never = true;
  if (s.kind_never) s.cancel = false;
  // Drawn last, so the scenarios above are those of seeds from before --retries.
  if (random_.chance(0.35)) {
    s.retries = static_cast<std::uint32_t>(random_.below(4));
    const std::uint64_t count = 1 + random_.below(std::min<std::uint64_t>(s.tasks, 24));
    for (std::uint64_t i = 0; i < count; ++i) {
      const TaskId id = 1 + random_.below(s.tasks);
      if (!s.poison.contains(id)) s.flaky[id] = static_cast<std::uint32_t>(2 + random_.below(4));
    }
  }
  // Drawn after --retries, for the same reason.
  if (random_.chance(0.3)) {
    s.keep_order = true;
    s.reorder_buffer = 1 + random_.below(random_.chance(0.5) ? 8 : 256);
  }
}

void World::start_ventilator(bool resume) {
  VentilatorSettings settings;
  settings.job = 1000 + ++ventilator_starts_;
  settings.batch = scenario_.batch;
  settings.max_in_flight = scenario_.max_in_flight;
  settings.worker_timeout = 1000ms;
  settings.max_attempts = scenario_.max_attempts;
  settings.retries = scenario_.retries;
  settings.task_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(scenario_.task_timeout);
  settings.resume = resume;
  settings.sink_name = "sink";
  settings.kind = std::string(job_kind);
  settings.kind_timeout = kind_timeout;
  ventilator_.outbox.clear();
  ventilator_.core.emplace(settings, count_source(settings.kind, scenario_.tasks), ventilator_, now_);
}

void World::start_sink() {
  ++sink_starts_;
  // Each sink process draws its own lease secret, as random_lease_secret() does.
  std::string secret(16, '\0');
  for (char& byte : secret) byte = static_cast<char>(random_.below(256));
  sink_.core.emplace(
      SinkSettings{OutputFormat::jsonl, true, true, secret, false, scenario_.keep_order, scenario_.reorder_buffer}, sink_,
      now_);
  printed_.clear();
  partial_line_.clear();
  for (const auto& record : journal_) sink_.core->replay(decode(record));
  journal_base_ = journal_.size();
  sink_.core->replay_done(now_);
}

void World::start_worker(std::size_t process) {
  WorkerNode& worker = *workers_.at(process);
  worker.queue.clear();
  worker.unsent.clear();
  worker.busy = false;
  worker.core.emplace(WorkerSettings{processes_[process].name, 1, true, worker.kinds, worker.bundle}, worker);
}

// Whether the worker runs the job's kind: `runs_kind` when given, else as
// the scenario has it (in a mixed pool, any of the three ways of hello).
std::size_t World::add_worker(std::optional<bool> runs_kind) {
  const std::size_t process = processes_.size();
  processes_.push_back(Process(Kind::worker, "w" + std::to_string(process)));
  auto node = std::make_unique<WorkerNode>(*this, process);
  node->per_task = random_.between(20us, 3ms);
  // One worker in five asks for a deep window, as a worker of quick tasks
  // does, and is dealt small frames in a row under one growing lease.
  node->window = static_cast<std::uint32_t>(random_.chance(0.2) ? 128 + random_.below(200) : 2 + random_.below(8));
  // Half of them take bundles (PROTOCOL.md §6.2.10), of fewer frames than a
  // run or more.
  if (node->window >= 128 && random_.chance(0.5)) node->bundle = static_cast<std::uint32_t>(2 + random_.below(90));
  if (!runs_kind && (scenario_.kind_never || scenario_.kind_arrives_late)) runs_kind = false;
  if (!runs_kind && scenario_.mixed_kinds) {
    switch (random_.below(3)) {
      case 0: runs_kind = false; break;
      case 1: node->kinds.reset(); break;  // older than kinds: runs every kind
      default: break;
    }
  }
  if (runs_kind == false)
    node->kinds = random_.chance(0.5) ? std::vector<std::string>{"fail", "upper"} : std::vector<std::string>{};
  workers_.emplace(process, std::move(node));
  add_link(process, ventilator, "w" + std::to_string(process) + "-v");
  add_link(process, sink, "w" + std::to_string(process) + "-s");
  start_worker(process);
  update(link_of(process, ventilator));
  update(link_of(process, sink));
  return process;
}

void World::journal_sync() {
  const std::size_t requested = journal_.size();
  const std::uint64_t incarnation = processes_[sink].incarnation;
  // A slow disk now and then.
  const Duration takes = random_.chance(0.05) ? random_.between(50ms, 800ms) : random_.between(100us, 5ms);
  at(takes, [this, asked = requested, incarnation] {
    if (processes_[sink].incarnation != incarnation || !processes_[sink].alive) return;
    // The writer syncs what was appended by the time it runs, which can be
    // more than was asked for.
    const std::size_t synced = random_.chance(0.5) ? journal_.size() : asked;
    for (; durable_ < synced && durable_ < journal_.size(); ++durable_) {
      const Message record = decode(journal_[durable_]);
      if (const auto* results = std::get_if<ResultBatch>(&record))
        for (const Result& result : results->results) durable_ids_.insert(result.id);
    }
    trace("journal synced to record " + std::to_string(synced));
    sink_.core->journal_synced(synced - journal_base_, now_);
    after(sink);
  });
}

// Output lines are jsonl; the simulation reads back the id and outcome.
void World::output(std::string_view bytes) {
  partial_line_.append(bytes);
  std::size_t start = 0;
  for (std::size_t end; (end = partial_line_.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string_view line(partial_line_.data() + start, end - start);
    const auto id_at = line.find("\"task_id\":") + 10;
    const TaskId id = std::stoull(std::string(line.substr(id_at, line.find(',', id_at) - id_at)));
    const bool ok = line.find("\"status\":\"ok\"") != std::string_view::npos;
    std::string outcome;
    if (ok) {
      const auto value_at = line.find("\"result\":") + 9;
      outcome = "ok:" + std::string(line.substr(value_at, line.find(',', value_at) - value_at));
    } else {
      const auto error_at = line.find("\"error\":") + 8;
      outcome = "error:" + std::string(line.substr(error_at, line.find("\",\"worker\"") - error_at));
    }
    // With --keep-order the output (rewritten from the journal by each
    // sink) is always tasks 1, 2, 3, ... with no gap.
    if (scenario_.keep_order && id != printed_.size() + 1)
      throw Broken("task " + std::to_string(id) + " printed after " + std::to_string(printed_.size()) +
                   " tasks with --keep-order");
    if (!printed_.emplace(id, outcome).second) throw Broken("task " + std::to_string(id) + " printed twice");
    if (!durable_ids_.contains(id))
      throw Broken("task " + std::to_string(id) + " printed before the journal held it durably");
  }
  partial_line_.erase(0, start);
}

void World::inject_fault() {
  if (now_ - start_ >= scenario_.faults_until) return;
  at(random_.between(1ms, scenario_.mean_fault_gap * 2), [this] { inject_fault(); });
  const std::size_t worker = 2 + random_.below(processes_.size() - 2);
  switch (random_.below(12)) {
    case 0:
    case 1:
      kill(worker, "fault");
      at(random_.between(1ms, 2s), [this, worker] { restart(worker); });
      break;
    case 2:
      kill(ventilator, "fault");
      at(random_.between(1ms, 3s), [this] { restart(ventilator); });
      break;
    case 3:
      kill(sink, "fault");
      at(random_.between(1ms, 3s), [this] { restart(sink); });
      break;
    case 4: cut({link_of(worker, ventilator)}, random_.between(10ms, 10s)); break;
    case 5: cut({link_of(worker, sink)}, random_.between(10ms, 10s)); break;  // reaches the ventilator, not the sink
    case 6: cut({link_of(ventilator, sink)}, random_.between(10ms, 10s)); break;
    case 7: cut({link_of(worker, ventilator), link_of(worker, sink)}, random_.between(10ms, 12s)); break;  // a host
    case 8: hang(worker, random_.between(10ms, 8s)); break;
    case 9:
      if (processes_.size() < 11) add_worker();  // a late joiner
      break;
    default: break;  // quiet
  }
}

// --- invariants ------------------------------------------------------------

void World::check_invariants() {
  if (up(ventilator) && ventilator_.core->in_flight_span() > scenario_.max_in_flight)
    throw Broken("the ventilator holds " + std::to_string(ventilator_.core->in_flight_span()) +
                 " tasks, more than --max-in-flight " + std::to_string(scenario_.max_in_flight));
  if (up(sink) && sink_.core->ledger_bytes() > ledger_bytes_at_most)
    throw Broken("the sink's ledger holds " + std::to_string(sink_.core->ledger_bytes()) + " bytes");
  // The sink holds no more than its reorder buffer, because the ventilator
  // deals no further ahead than it (PROTOCOL.md §6.8).
  if (scenario_.keep_order) {
    const std::uint64_t window = std::min(scenario_.max_in_flight, scenario_.reorder_buffer + 1);
    if (up(ventilator) && ventilator_.core->in_flight_span() > window)
      throw Broken("the ventilator holds " + std::to_string(ventilator_.core->in_flight_span()) +
                   " tasks, more than the sink's reorder buffer allows (" + std::to_string(window) + ")");
    if (up(sink) && sink_.core->reorder_held() > scenario_.reorder_buffer)
      throw Broken("the sink holds " + std::to_string(sink_.core->reorder_held()) +
                   " results for order, more than --reorder-buffer " + std::to_string(scenario_.reorder_buffer));
  }
  const std::size_t held_at_most = 64 * 1024 + scenario_.max_in_flight * 256;
  if (up(sink) && sink_.core->held_bytes() > held_at_most)
    throw Broken("the sink holds " + std::to_string(sink_.core->held_bytes()) + " bytes for output and acks");
}

bool World::finished() const {
  const bool ventilator_done = processes_[ventilator].exit_status.has_value() || ventilator_not_restarted_;
  const bool sink_done = processes_[sink].exit_status.has_value() ||
                         ((cancelled_ || scenario_.kind_never) && !sink_took_job_ && ventilator_done);
  return ventilator_done && sink_done;
}

void World::check_end() {
  const auto ventilator_status = processes_[ventilator].exit_status;
  const auto sink_status = processes_[sink].exit_status;
  if (scenario_.kind_never) {
    if (!printed_.empty()) throw Broken("tasks were printed though no worker runs the job's kind");
    if (ventilator_status != exit_runtime && !ventilator_not_restarted_)
      throw Broken("a ventilator no worker could serve exited with " + std::to_string(*ventilator_status) +
                   ", expected 3 after --kind-timeout");
    if (sink_status && *sink_status != exit_cancelled)
      throw Broken("the sink of a job no worker could serve exited with " + std::to_string(*sink_status));
    return;
  }
  if (cancelled_) {
    if (ventilator_status != exit_interrupted) throw Broken("a cancelled ventilator exited with " + std::to_string(*ventilator_status));
    if (sink_status && *sink_status != exit_cancelled) throw Broken("the sink of a cancelled job exited with " + std::to_string(*sink_status));
    return;
  }
  if (ventilator_status != exit_ok && !ventilator_not_restarted_)
    throw Broken("the ventilator exited with " + std::to_string(*ventilator_status));
  if (printed_.size() != scenario_.tasks)
    throw Broken(std::to_string(printed_.size()) + " of " + std::to_string(scenario_.tasks) + " tasks printed");
  std::uint64_t failed = 0;
  for (const auto& [id, outcome] : printed_) {
    if (id < 1 || id > scenario_.tasks) throw Broken("task " + std::to_string(id) + " is not in the job");
    const bool poison = scenario_.poison.contains(id);
    // A flaky task ends ok when its good attempt is within --retries, and
    // otherwise failed by attempt retries + 1, its last; either way it may
    // also be lost, as any task.
    const auto flaky = scenario_.flaky.find(id);
    const bool flaky_fails = flaky != scenario_.flaky.end() && flaky->second > scenario_.retries + 1;
    if (outcome.starts_with("ok:")) {
      if (poison) throw Broken("poison task " + std::to_string(id) + " reported ok");
      if (flaky_fails)
        throw Broken("flaky task " + std::to_string(id) + " reported ok, though it fails below attempt " +
                     std::to_string(flaky->second) + " and --retries is " + std::to_string(scenario_.retries));
      const auto n = static_cast<std::int64_t>(id);
      if (outcome != "ok:" + std::to_string(n * n)) throw Broken("task " + std::to_string(id) + ": wrong result " + outcome);
    } else {
      ++failed;
      const bool lost = outcome.find("lost with") != std::string::npos ||
                        (scenario_.task_timeout.count() > 0 && outcome.find("past --task-timeout") != std::string::npos);
      // The jsonl error as read back above: its opening quote, not its closing one.
      const std::string last_attempt = "error:\"flaky: attempt " + std::to_string(scenario_.retries + 1);
      if (!lost && !(flaky_fails && outcome == last_attempt))
        throw Broken("task " + std::to_string(id) + " failed: " + outcome +
                     (flaky_fails ? " (its final failure must be that of attempt " + std::to_string(scenario_.retries + 1) + ")" : ""));
    }
  }
  const int expected = failed == 0 ? exit_ok : exit_tasks_failed;
  if (sink_status != expected)
    throw Broken("the sink exited with " + (sink_status ? std::to_string(*sink_status) : std::string("nothing")) +
                 ", expected " + std::to_string(expected));
}

std::string World::describe() const {
  std::string text = "ventilator: " + (up(ventilator) ? ventilator_.core->describe() : std::string("not running")) +
                     "\nsink: " + (up(sink) ? std::to_string(sink_.core->completed()) + " of " +
                                                   (sink_.core->total() ? std::to_string(*sink_.core->total()) : "?")
                                             : std::string("not running"));
  for (const auto& link : links_)
    text += "\n" + link.routing_id() + (link.connected ? " up" : " down") + (link.cut ? " cut" : "") + " " +
            std::to_string(link.up.frames.size()) + "/" + std::to_string(link.down.frames.size()) + " queued";
  for (const auto& [process, worker] : workers_)
    text += "\n" + processes_[process].name + (up(process) ? "" : " not running") +
            (worker->core && worker->core->introduced() ? " introduced" : "") + " queue " +
            std::to_string(worker->queue.size()) + (worker->busy ? " busy" : "");
  return text;
}

// --- the run ---------------------------------------------------------------

void World::trace(std::string line) {
  trace_.push_back(now_text() + " " + std::move(line));
  if (trace_.size() > trace_lines) trace_.pop_front();
}

std::string World::now_text() const {
  return std::to_string(std::chrono::duration<double, std::milli>(now_ - start_).count()) + "ms";
}

Outcome World::run(bool keep_trace) {
  Outcome outcome;
  try {
    choose_scenario();
    outcome.scenario = scenario_.text();
    processes_.push_back(Process(Kind::ventilator, "ventilator"));
    processes_.push_back(Process(Kind::sink, "sink"));
    add_link(ventilator, sink, "v-s");
    start_sink();
    start_ventilator(false);
    // A mixed pool has one worker that surely runs the kind.
    for (std::size_t i = 0; i < scenario_.workers; ++i)
      add_worker(scenario_.mixed_kinds && i == 0 ? std::optional<bool>(true) : std::nullopt);
    if (scenario_.kind_arrives_late) at(*scenario_.kind_arrives_late, [this] { add_worker(true); });
    update(link_of(ventilator, sink));
    after(ventilator);
    after(sink);
    at(random_.between(0ms, scenario_.mean_fault_gap), [this] { inject_fault(); });
    if (scenario_.cancel)
      // After every cut has healed: a cancellation is told, not lost.
      at(scenario_.faults_until + 13s + random_.between(0ms, 300ms), [this] {
        if (!up(ventilator)) return;
        cancelled_ = !ventilator_.core->complete();  // a complete job stays complete
        trace("SIGTERM ventilator");
        ventilator_.core->stop(now_);
        after(ventilator);
      });
    const TimePoint limit = start_ + scenario_.faults_until + settle_limit;
    while (!finished()) {
      if (events_.empty()) throw Broken("nothing more can happen and the job has not ended");
      Event event = std::move(const_cast<Event&>(events_.top()));
      events_.pop();
      if (++events_run_ > events_at_most) throw Broken("more than " + std::to_string(events_at_most) + " events: a busy loop?");
      now_ = event.first.first;
      if (now_ > limit)
        throw Broken(describe() + "\nthe job did not end within " + std::to_string(settle_limit.count() / 1000000) +
                     " s after the last fault");
      if (false)
        throw Broken("the job did not end within " + std::to_string(settle_limit.count() / 1000000) +
                     " s after the last fault");
      event.second();
      check_invariants();
    }
    check_end();
  } catch (const std::exception& e) {
    outcome.passed = false;
    outcome.failure = "at " + now_text() + ": " + e.what();
  }
  outcome.steps = steps_;
  outcome.simulated_seconds = std::chrono::duration<double>(now_ - start_).count();
  if (!outcome.passed || keep_trace)
    for (const auto& line : trace_) outcome.trace += line + "\n";
  return outcome;
}

}  // namespace

Outcome simulate(const Options& options) {
  World world(options.seed);
  return world.run(options.trace);
}

}  // namespace zpipe::sim
