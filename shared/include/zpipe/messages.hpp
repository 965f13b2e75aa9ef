// Every message of the zpipe job protocol, as plain value types.
// shared/PROTOCOL.md is the normative description of each one on the wire.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "zpipe/value.hpp"

namespace zpipe {

/// The protocol version this build speaks; the first element of every frame.
inline constexpr std::uint64_t protocol_version = 2;

/// The second element of every frame. Numbers are part of the wire format.
enum class MessageType : std::uint8_t {
  hello = 1,         // worker -> ventilator
  credit = 2,        // worker -> ventilator
  tasks = 3,         // ventilator -> worker
  results = 4,       // worker -> sink, ventilator -> sink
  job = 5,           // ventilator -> sink
  job_accepted = 6,  // sink -> ventilator
  job_refused = 7,   // sink -> ventilator
  ack = 8,           // sink -> ventilator
  job_end = 9,       // ventilator -> worker
  hello_again = 10,  // ventilator -> worker
  status_request = 11,  // observer or worker -> ventilator
  status = 12,          // ventilator -> observer or worker
  retry = 13,           // sink -> ventilator
  halt = 14,            // sink -> ventilator
};

/// The most task frames one worker may hold or be owed (hello.window plus
/// credits). A ventilator caps grants at this; task sockets queue more than
/// this, so credits, not high-water marks, bound what is in flight.
inline constexpr std::uint32_t max_window_frames = 65536;

using JobId = std::uint64_t;
using TaskId = std::uint64_t;

/// A worker announces itself, how many task batches it may hold at once,
/// and the task kinds it runs. `kinds` absent (a hello of a peer older than
/// the field) means the worker is taken to run every kind.
struct Hello {
  std::string worker;
  std::uint32_t window = 0;
  std::optional<std::vector<std::string>> kinds = std::nullopt;
  /// The most task frames it takes in one `tasks` message (PROTOCOL.md
  /// §6.2.10); 1, the default, is one frame per message. On the wire only
  /// when above 1, and then only with `kinds`.
  std::uint32_t bundle = 1;
  bool operator==(const Hello&) const = default;
};

/// A worker hands back `batches` credits; 0 is a keep-alive.
struct Credit {
  std::uint32_t batches = 0;
  bool operator==(const Credit&) const = default;
};

struct Task {
  TaskId id = 0;
  Value payload;
  bool operator==(const Task&) const = default;
};

/// Task ids first..last were dealt to one worker's key; `token` proves it
/// to the sink (lease.hpp, PROTOCOL.md §6.5).
struct Lease {
  TaskId first = 0;
  TaskId last = 0;
  std::array<char, 16> token{};  // a value, not a string: no allocation per lease
  bool operator==(const Lease&) const = default;
};

struct TaskBatch {
  JobId job = 0;
  std::string kind;
  std::vector<Task> tasks;
  std::vector<Lease> leases = {};  // one per run of consecutive ids
  /// Which attempt of each task this is (--retries), parallel to `tasks`;
  /// empty: every task's first. On the wire only when one is past its first.
  std::vector<std::uint32_t> attempts = {};
  /// Task frames this message stands for (a bundle, PROTOCOL.md §6.2.10):
  /// it costs as many credits, and returns as many. On the wire only when
  /// above 1.
  std::uint32_t frames = 1;
  /// The attempt of tasks[i].
  [[nodiscard]] std::uint32_t attempt(std::size_t i) const { return i < attempts.size() ? attempts[i] : 1; }
  bool operator==(const TaskBatch&) const = default;
};

/// ok: `value` is the task's result. Not ok: `value` is the error message.
/// `attempt` echoes the tasks frame's (1 unless the task was retried).
struct Result {
  TaskId id = 0;
  bool ok = true;
  Value value;
  std::uint32_t attempt = 1;
  bool operator==(const Result&) const = default;
};

struct ResultBatch {
  JobId job = 0;
  std::string worker;
  std::vector<Result> results;
  std::vector<Lease> leases = {};  // of the task frames these results answer; none from the ventilator
  bool operator==(const ResultBatch&) const = default;
};

/// --halt (GNU parallel's): when the sink ends the job early, and how. On
/// the wire nil while `when` is never, else [when, on, count, basis_points].
struct HaltPolicy {
  enum class When : std::uint32_t { never = 0, soon = 1, now = 2 };
  enum class On : std::uint32_t { fail = 1, success = 2 };
  When when = When::never;
  On on = On::fail;
  /// After this many final failures (or successes); 0 when a percentage.
  std::uint64_t count = 0;
  /// After this share of the tasks completed, in hundredths of a percent
  /// (1 ... 10000); 0 when a count.
  std::uint32_t basis_points = 0;
  [[nodiscard]] bool enabled() const { return when != When::never; }
  bool operator==(const HaltPolicy&) const = default;
};

/// The job manifest. `total` is unknown while the ventilator still reads its
/// input; it sends the manifest again once the total is known. `fingerprint`
/// identifies the job's input (empty when it cannot, as for stdin); with
/// `resume` the ventilator asks to continue the sink's job of that
/// fingerprint. `acknowledged` is how many results the ventilator has seen
/// acknowledged, so a sink that lost them can say so instead of waiting.
struct JobManifest {
  JobId job = 0;
  std::string kind;
  std::optional<std::uint64_t> total;
  std::string fingerprint;
  bool resume = false;
  std::uint64_t acknowledged = 0;
  /// --retries: a failed result of attempt `retries` or below is not final
  /// (the sink asks for the task again). On the wire only when above 0.
  std::uint32_t retries = 0;
  /// --halt; on the wire only when enabled (or when a later field is sent).
  HaltPolicy halt = {};
  /// With --resume, non-zero: a token drawn by this ventilator run. A sink
  /// whose job ended unfinished (cancelled, halted) takes it up again, once
  /// per token. On the wire only when non-zero (or resume_failed is sent).
  std::uint64_t resume_token = 0;
  /// --resume-failed: the sink takes the failed results it holds for
  /// unfinished, once per resume_token, so they are dealt and run again.
  bool resume_failed = false;
  /// The most tasks the ventilator deals before it waits for
  /// acknowledgements: the smaller of --max-in-flight and
  /// --max-held-per-worker. The sink acknowledges before a sixteenth of it
  /// is pending, so dealing never waits out an ack interval. 0: not said.
  /// The ventilator's, not the job's: a sink journals it as 0.
  std::uint64_t window = 0;
  bool operator==(const JobManifest&) const = default;
};

/// The sink's answer to every manifest it takes: the total as the sink now
/// knows it, how many tasks it already holds results for, and the secret
/// the ventilator signs leases with (chosen by the sink once per job).
struct JobAccepted {
  JobId job = 0;
  std::optional<std::uint64_t> total;
  std::uint64_t completed = 0;
  std::string lease_secret = {};
  /// The sink's --reorder-buffer with --keep-order: the ventilator deals no
  /// task id more than this far past its lowest unacknowledged one, so the
  /// sink never holds more results than this waiting for an earlier one
  /// (§6.8). 0: no limit. Appended to v2; sent only when above 0.
  std::uint64_t reorder_buffer = 0;
  bool operator==(const JobAccepted&) const = default;
};

struct JobRefused {
  JobId job = 0;
  std::string reason;
  bool operator==(const JobRefused&) const = default;
};

/// Inclusive ranges of task ids whose results the sink holds.
struct Ack {
  JobId job = 0;
  std::vector<std::pair<TaskId, TaskId>> ranges;
  bool operator==(const Ack&) const = default;
};

/// The job is over (complete, or abandoned by the ventilator).
struct JobEnd {
  JobId job = 0;
  bool complete = true;
  bool operator==(const JobEnd&) const = default;
};

/// The ventilator does not know the worker (it restarted, or took the
/// worker for gone): drop queued tasks and say hello again.
struct HelloAgain {
  bool operator==(const HelloAgain&) const = default;
};

/// Asks the ventilator for a snapshot of its job (zpipe-status).
struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};

/// One connected worker, as the ventilator sees it.
struct WorkerStatus {
  std::string name;            // its key's name (CURVE), else the name it chose
  std::string host;            // the address its connection comes from; empty if unknown
  std::uint64_t held = 0;      // tasks dealt to it and not yet acknowledged
  std::uint64_t done = 0;      // its tasks the sink has acknowledged
  std::uint64_t idle_ms = 0;   // since it was last heard from
  bool operator==(const WorkerStatus&) const = default;
};

/// The ventilator's answer to a status_request: where the job stands.
struct Status {
  /// At most this many worker rows; with more workers connected, the rows
  /// of those holding the most tasks.
  static constexpr std::size_t max_rows = 4096;

  JobId job = 0;
  std::string kind;
  std::string phase;  // "waiting for the sink", "dealing", "ending", "cancelling", "done"
  std::optional<std::uint64_t> total;
  std::uint64_t read = 0;
  std::uint64_t acknowledged = 0;
  std::uint64_t failed = 0;
  std::uint64_t in_flight = 0;
  std::uint64_t dealt_again = 0;
  std::uint64_t workers_lost = 0;
  std::uint64_t elapsed_ms = 0;
  std::uint64_t rate = 0;     // tasks acknowledged per second, over the last 10 s
  std::uint64_t workers = 0;  // connected; may exceed rows.size()
  std::vector<WorkerStatus> rows;
  /// Failed attempts run again at the sink's request (--retries). Appended
  /// to v2; sent only when above 0.
  std::uint64_t retried = 0;
  bool operator==(const Status&) const = default;
};

/// The sink asks the ventilator to run tasks again: each of `ids` failed
/// at attempt `attempts[i]`, below the job's --retries, so that failure is
/// not final (parallel arrays, as on the wire).
struct Retry {
  JobId job = 0;
  std::vector<TaskId> ids;
  std::vector<std::uint32_t> attempts;
  bool operator==(const Retry&) const = default;
};

/// The sink tells the ventilator that the job's --halt condition is met:
/// deal nothing more, and with `now` cancel what workers hold at once;
/// without it (soon), end the job once what workers hold is done.
struct Halt {
  JobId job = 0;
  bool now = false;
  std::string reason;  // for people: which condition, and the counts
  bool operator==(const Halt&) const = default;
};

using Message = std::variant<Hello, Credit, TaskBatch, ResultBatch, JobManifest, JobAccepted,
                             JobRefused, Ack, JobEnd, HelloAgain, StatusRequest, Status, Retry, Halt>;

}  // namespace zpipe
