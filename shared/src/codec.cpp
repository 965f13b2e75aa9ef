// msgpack encoding and bounded decoding of every protocol message.
#include "zpipe/codec.hpp"

#include "codec_direct.hpp"
#include "zpipe/msgpack_writer.hpp"

#include <algorithm>
#include <limits>
#include <new>

#include <msgpack.hpp>

namespace zpipe {
namespace {

// Frames are written by our own writer (msgpack_writer.hpp) and read by
// msgpack-c or the direct decoder; the codec vectors pin the bytes.
using Packer = MsgpackWriter;

void pack_header(Packer& packer, std::uint32_t fields, MessageType type) {
  packer.pack_array(fields);
  packer.pack_uint64(protocol_version);
  packer.pack_uint8(static_cast<std::uint8_t>(type));
}

void pack_string(Packer& packer, std::string_view text) {
  packer.pack_str(static_cast<std::uint32_t>(text.size()));
  packer.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
}

void pack_bytes(Packer& packer, std::string_view bytes) {
  packer.pack_bin(static_cast<std::uint32_t>(bytes.size()));
  packer.pack_bin_body(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
}

// `absent` is the number that stands for nil.
void pack_int_or_nil(Packer& packer, std::int64_t number, std::int64_t absent) {
  if (number != absent) packer.pack_int64(number);
  else packer.pack_nil();
}

void pack_bool(Packer& packer, bool flag) {
  if (flag) packer.pack_true();
  else packer.pack_false();
}

// PROTOCOL.md §4.1: a tagged array of fixed shape.
void pack_exec_record(Packer& packer, const ExecRecord& record) {
  // `command` (element 11) was appended; left out when empty, so a record
  // without it keeps the 11 elements it had.
  packer.pack_array(static_cast<std::uint32_t>(exec_record_fields + (record.command.empty() ? 0 : 1)));
  pack_string(packer, exec_record_tag);
  pack_int_or_nil(packer, record.exit_code, -1);
  pack_int_or_nil(packer, record.signal, 0);
  pack_bytes(packer, record.out);
  pack_bytes(packer, record.err);
  pack_bool(packer, record.out_truncated);
  pack_bool(packer, record.err_truncated);
  packer.pack_int64(record.started_us);
  packer.pack_int64(record.duration_us);
  pack_string(packer, record.host);
  pack_string(packer, record.error);
  if (!record.command.empty()) pack_string(packer, record.command);
}

void pack_value(Packer& packer, const Value& value) {
  if (const auto* number = std::get_if<std::int64_t>(&value)) {
    packer.pack_int64(*number);
  } else if (const auto* text = std::get_if<std::string>(&value)) {
    pack_string(packer, *text);
  } else if (const auto* exec = std::get_if<ExecValue>(&value)) {
    pack_exec_record(packer, **exec);
  } else {
    packer.pack_nil();
  }
}

// The columns of tasks and results frames, thousands of small integers
// each, are packed at a cursor (MsgpackWriter::room), not a call apiece.
template <class Items, class Id>
void pack_ids(Packer& packer, const Items& items, Id id_of) {
  packer.pack_array(static_cast<std::uint32_t>(items.size()));
  char* at = packer.room(9 * items.size());
  for (const auto& item : items) at = MsgpackWriter::put_uint64(at, id_of(item));
  packer.advance_to(at);
}

// Runs of numbers at a cursor; any other value through pack_value.
template <class Items, class ValueOf>
void pack_values(Packer& packer, const Items& items, ValueOf value_of) {
  packer.pack_array(static_cast<std::uint32_t>(items.size()));
  auto item = items.begin();
  while (item != items.end()) {
    char* at = packer.room(9 * static_cast<std::size_t>(items.end() - item));
    for (; item != items.end(); ++item) {
      const auto* number = std::get_if<std::int64_t>(&value_of(*item));
      if (number == nullptr) break;
      at = MsgpackWriter::put_int64(at, *number);
    }
    packer.advance_to(at);
    if (item != items.end()) pack_value(packer, value_of(*item++));
  }
}

void pack_bin(Packer& packer, std::string_view bytes) {
  packer.pack_bin(static_cast<std::uint32_t>(bytes.size()));
  packer.pack_bin_body(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
}

void pack_leases(Packer& packer, const std::vector<Lease>& leases) {
  packer.pack_array(static_cast<std::uint32_t>(leases.size()));
  for (const Lease& lease : leases) {
    packer.pack_array(3);
    packer.pack_uint64(lease.first);
    packer.pack_uint64(lease.last);
    pack_bin(packer, std::string_view(lease.token.data(), lease.token.size()));
  }
}

void pack_optional(Packer& packer, const std::optional<std::uint64_t>& number) {
  if (number) packer.pack_uint64(*number);
  else packer.pack_nil();
}

void pack(Packer& p, const Hello& m) {
  // bundle is appended after kinds, and an absent kinds cannot be written
  // in its place (absent means every kind): a hello without kinds takes
  // one frame per message.
  const bool bundle = m.kinds && m.bundle != 1;
  pack_header(p, bundle ? 6 : m.kinds ? 5 : 4, MessageType::hello);
  pack_string(p, m.worker);
  p.pack_uint32(m.window);
  if (!m.kinds) return;
  p.pack_array(static_cast<std::uint32_t>(m.kinds->size()));
  for (const auto& kind : *m.kinds) pack_string(p, kind);
  if (bundle) p.pack_uint32(m.bundle);
}

void pack(Packer& p, const Credit& m) {
  pack_header(p, 3, MessageType::credit);
  p.pack_uint32(m.batches);
}

// Attempts (--retries) are appended to tasks and results, and written only
// when one is past the first, so the common frame stays as it was.
bool any_retried(const std::vector<std::uint32_t>& attempts) {
  return std::any_of(attempts.begin(), attempts.end(), [](std::uint32_t attempt) { return attempt != 1; });
}

bool any_retried(const std::vector<Result>& results) {
  return std::any_of(results.begin(), results.end(), [](const Result& result) { return result.attempt != 1; });
}

void pack(Packer& p, const TaskBatch& m) {
  // frames is appended after attempts: a bundle writes attempts too, each
  // task's first where none was retried.
  const bool frames = m.frames != 1;
  const bool attempts = frames || any_retried(m.attempts);
  pack_header(p, frames ? 9 : attempts ? 8 : 7, MessageType::tasks);
  p.pack_uint64(m.job);
  pack_string(p, m.kind);
  const auto count = static_cast<std::uint32_t>(m.tasks.size());
  pack_ids(p, m.tasks, [](const Task& task) { return task.id; });
  pack_values(p, m.tasks, [](const Task& task) -> const Value& { return task.payload; });
  pack_leases(p, m.leases);
  if (!attempts) return;
  p.pack_array(count);
  for (std::size_t i = 0; i < m.tasks.size(); ++i) p.pack_uint32(m.attempt(i));
  if (frames) p.pack_uint32(m.frames);
}

void pack(Packer& p, const ResultBatch& m) {
  const bool attempts = any_retried(m.results);
  pack_header(p, attempts ? 9 : 8, MessageType::results);
  p.pack_uint64(m.job);
  pack_string(p, m.worker);
  const auto count = static_cast<std::uint32_t>(m.results.size());
  pack_ids(p, m.results, [](const Result& result) { return result.id; });
  p.pack_array(count);
  char* at = p.room(count);
  for (const auto& result : m.results) *at++ = static_cast<char>(result.ok ? 0xc3 : 0xc2);
  p.advance_to(at);
  pack_values(p, m.results, [](const Result& result) -> const Value& { return result.value; });
  pack_leases(p, m.leases);
  if (!attempts) return;
  p.pack_array(count);
  for (const auto& result : m.results) p.pack_uint32(result.attempt);
}

// Appended fields are positional: one is written when it, or a field after
// it, is not its default.
void pack(Packer& p, const JobManifest& m) {
  const std::uint32_t appended = m.window != 0          ? 5
                                 : m.resume_failed      ? 4
                                 : m.resume_token != 0 ? 3
                                 : m.halt.enabled()    ? 2
                                 : m.retries > 0       ? 1
                                                       : 0;
  pack_header(p, 8 + appended, MessageType::job);
  p.pack_uint64(m.job);
  pack_string(p, m.kind);
  pack_optional(p, m.total);
  pack_string(p, m.fingerprint);
  if (m.resume) p.pack_true();
  else p.pack_false();
  p.pack_uint64(m.acknowledged);
  if (appended >= 1) p.pack_uint32(m.retries);
  if (appended >= 2) {
    if (!m.halt.enabled()) {
      p.pack_nil();
    } else {
      p.pack_array(4);
      p.pack_uint32(static_cast<std::uint32_t>(m.halt.when));
      p.pack_uint32(static_cast<std::uint32_t>(m.halt.on));
      p.pack_uint64(m.halt.count);
      p.pack_uint32(m.halt.basis_points);
    }
  }
  if (appended >= 3) p.pack_uint64(m.resume_token);
  if (appended >= 4) pack_bool(p, m.resume_failed);
  if (appended >= 5) p.pack_uint64(m.window);
}

void pack(Packer& p, const JobAccepted& m) {
  pack_header(p, m.reorder_buffer > 0 ? 7 : 6, MessageType::job_accepted);
  p.pack_uint64(m.job);
  pack_optional(p, m.total);
  p.pack_uint64(m.completed);
  pack_bin(p, m.lease_secret);
  if (m.reorder_buffer > 0) p.pack_uint64(m.reorder_buffer);
}

void pack(Packer& p, const JobRefused& m) {
  pack_header(p, 4, MessageType::job_refused);
  p.pack_uint64(m.job);
  pack_string(p, m.reason);
}

void pack(Packer& p, const Ack& m) {
  pack_header(p, 4, MessageType::ack);
  p.pack_uint64(m.job);
  p.pack_array(static_cast<std::uint32_t>(m.ranges.size()));
  for (const auto& [first, last] : m.ranges) {
    p.pack_array(2);
    p.pack_uint64(first);
    p.pack_uint64(last);
  }
}

void pack(Packer& p, const HelloAgain&) { pack_header(p, 2, MessageType::hello_again); }

void pack(Packer& p, const StatusRequest&) { pack_header(p, 2, MessageType::status_request); }

void pack(Packer& p, const Status& m) {
  pack_header(p, m.retried > 0 ? 17 : 16, MessageType::status);
  p.pack_uint64(m.job);
  pack_string(p, m.kind);
  pack_string(p, m.phase);
  pack_optional(p, m.total);
  for (const std::uint64_t number : {m.read, m.acknowledged, m.failed, m.in_flight, m.dealt_again, m.workers_lost,
                                     m.elapsed_ms, m.rate, m.workers})
    p.pack_uint64(number);
  p.pack_array(static_cast<std::uint32_t>(m.rows.size()));
  for (const WorkerStatus& row : m.rows) {
    p.pack_array(5);
    pack_string(p, row.name);
    pack_string(p, row.host);
    p.pack_uint64(row.held);
    p.pack_uint64(row.done);
    p.pack_uint64(row.idle_ms);
  }
  if (m.retried > 0) p.pack_uint64(m.retried);
}

void pack(Packer& p, const Retry& m) {
  pack_header(p, 5, MessageType::retry);
  p.pack_uint64(m.job);
  p.pack_array(static_cast<std::uint32_t>(m.ids.size()));
  for (const TaskId id : m.ids) p.pack_uint64(id);
  p.pack_array(static_cast<std::uint32_t>(m.attempts.size()));
  for (const std::uint32_t attempt : m.attempts) p.pack_uint32(attempt);
}

void pack(Packer& p, const Halt& m) {
  pack_header(p, 5, MessageType::halt);
  p.pack_uint64(m.job);
  pack_bool(p, m.now);
  pack_string(p, m.reason);
}

void pack(Packer& p, const JobEnd& m) {
  pack_header(p, 4, MessageType::job_end);
  p.pack_uint64(m.job);
  if (m.complete) p.pack_true();
  else p.pack_false();
}

// ---- decoding -------------------------------------------------------------

std::string_view type_name(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "boolean";
    case msgpack::type::POSITIVE_INTEGER: return "unsigned integer";
    case msgpack::type::NEGATIVE_INTEGER: return "negative integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "float";
    case msgpack::type::STR: return "string";
    case msgpack::type::BIN: return "binary";
    case msgpack::type::ARRAY: return "array";
    case msgpack::type::MAP: return "map";
    case msgpack::type::EXT: return "extension";
  }
  return "unknown";
}

[[noreturn]] void wrong_type(std::string_view field, std::string_view wanted, const msgpack::object& o) {
  throw codec_error(std::string(field) + " must be " + std::string(wanted) + ", got " +
                    std::string(type_name(o)));
}

std::uint64_t read_uint(const msgpack::object& o, std::string_view field) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) wrong_type(field, "an unsigned integer", o);
  return o.via.u64;
}

std::uint32_t read_uint32(const msgpack::object& o, std::string_view field) {
  const std::uint64_t number = read_uint(o, field);
  if (number > std::numeric_limits<std::uint32_t>::max())
    throw codec_error(std::string(field) + " " + std::to_string(number) + " exceeds 2^32-1");
  return static_cast<std::uint32_t>(number);
}

std::optional<std::uint64_t> read_optional_uint(const msgpack::object& o, std::string_view field) {
  if (o.type == msgpack::type::NIL) return std::nullopt;
  if (o.type != msgpack::type::POSITIVE_INTEGER) wrong_type(field, "an unsigned integer or nil", o);
  return o.via.u64;
}

bool read_bool(const msgpack::object& o, std::string_view field) {
  if (o.type != msgpack::type::BOOLEAN) wrong_type(field, "a boolean", o);
  return o.via.boolean;
}

std::string read_string(const msgpack::object& o, std::string_view field) {
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  wrong_type(field, "a string", o);
}

std::int64_t read_int(const msgpack::object& o, std::string_view field) {
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  if (o.type != msgpack::type::POSITIVE_INTEGER) wrong_type(field, "an integer", o);
  if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw codec_error(std::string(field) + " " + std::to_string(o.via.u64) + " exceeds 2^63-1");
  return static_cast<std::int64_t>(o.via.u64);
}

std::int64_t read_int_or_nil(const msgpack::object& o, std::string_view field, std::int64_t absent) {
  if (o.type == msgpack::type::NIL) return absent;
  const std::int64_t number = read_int(o, field);
  if (number == absent) throw codec_error(std::string(field) + " is " + std::to_string(absent) + " (write nil)");
  return number;
}

ExecRecord read_exec_record(std::span<const msgpack::object> f) {
  if (f.size() < exec_record_fields)
    throw codec_error("an exec record needs " + std::to_string(exec_record_fields) + " elements, got " +
                      std::to_string(f.size()));
  ExecRecord record;
  record.exit_code = read_int_or_nil(f[1], "exec.exit", -1);
  record.signal = read_int_or_nil(f[2], "exec.signal", 0);
  record.out = read_string(f[3], "exec.stdout");
  record.err = read_string(f[4], "exec.stderr");
  record.out_truncated = read_bool(f[5], "exec.stdout_truncated");
  record.err_truncated = read_bool(f[6], "exec.stderr_truncated");
  record.started_us = read_int(f[7], "exec.started");
  record.duration_us = read_int(f[8], "exec.duration");
  record.host = read_string(f[9], "exec.host");
  record.error = read_string(f[10], "exec.error");
  if (f.size() > exec_record_fields && f[11].type != msgpack::type::NIL) record.command = read_string(f[11], "exec.command");
  return record;
}

Value read_value(const msgpack::object& o, std::string_view field) {
  switch (o.type) {
    case msgpack::type::ARRAY: {
      // The one array a Value may be: an exec record, tagged by its first element.
      const std::span<const msgpack::object> elements{o.via.array.ptr, o.via.array.size};
      if (elements.empty() || elements[0].type != msgpack::type::STR ||
          std::string_view(elements[0].via.str.ptr, elements[0].via.str.size) != exec_record_tag)
        throw codec_error(std::string(field) + " is an array but not an exec record");
      return ExecValue(read_exec_record(elements));
    }
    case msgpack::type::NIL: return Value{};
    case msgpack::type::POSITIVE_INTEGER:
      if (o.via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw codec_error(std::string(field) + " " + std::to_string(o.via.u64) + " exceeds 2^63-1");
      return Value{static_cast<std::int64_t>(o.via.u64)};
    case msgpack::type::NEGATIVE_INTEGER: return Value{o.via.i64};
    case msgpack::type::STR:
    case msgpack::type::BIN: return Value{read_string(o, field)};
    default: wrong_type(field, "nil, an integer, a string or an exec record", o);
  }
}

std::span<const msgpack::object> read_array(const msgpack::object& o, std::string_view field) {
  if (o.type != msgpack::type::ARRAY) wrong_type(field, "an array", o);
  return {o.via.array.ptr, o.via.array.size};
}

// msgpack's map limit only bounds a map's size, so an empty map would pass
// in a field that is ignored; the protocol has no maps anywhere.
void reject_maps(const msgpack::object& o) {
  if (o.type == msgpack::type::MAP) throw codec_error("maps are not part of the protocol");
  if (o.type != msgpack::type::ARRAY) return;
  for (const auto& element : std::span<const msgpack::object>(o.via.array.ptr, o.via.array.size))
    if (element.type == msgpack::type::MAP || element.type == msgpack::type::ARRAY) reject_maps(element);
}

// The fields of a message after version and type; trailing extras are
// ignored so that a later minor revision may append fields.
class Fields {
 public:
  Fields(std::span<const msgpack::object> all, std::string_view message, std::size_t needed)
      : fields_(all.subspan(2)) {
    if (fields_.size() < needed)
      throw codec_error(std::string(message) + " needs " + std::to_string(needed) + " fields after the header, got " +
                        std::to_string(fields_.size()));
    for (const auto& extra : fields_.subspan(needed)) reject_maps(extra);
  }
  const msgpack::object& operator[](std::size_t i) const { return fields_[i]; }
  /// How many fields there are, the trailing ones included.
  [[nodiscard]] std::size_t size() const { return fields_.size(); }

 private:
  std::span<const msgpack::object> fields_;
};

void check_same_length(std::size_t expected, std::size_t got, std::string_view field) {
  if (got != expected)
    throw codec_error(std::string(field) + " has " + std::to_string(got) + " entries, expected " +
                      std::to_string(expected));
}

std::vector<Lease> read_leases(const msgpack::object& o, std::string_view field) {
  std::vector<Lease> leases;
  const auto all = read_array(o, field);
  leases.reserve(all.size());
  for (const auto& element : all) {
    const auto lease = read_array(element, field);
    if (lease.size() != 3) throw codec_error(std::string(field) + "[] must be [first, last, token]");
    Lease read{read_uint(lease[0], field), read_uint(lease[1], field), {}};
    if (read.last < read.first) throw codec_error(std::string(field) + "[] has last < first");
    const auto& token = lease[2];
    if (token.type != msgpack::type::BIN || token.via.bin.size != read.token.size())
      throw codec_error(std::string(field) + "[] token must be bin of 16 bytes");
    std::copy_n(token.via.bin.ptr, read.token.size(), read.token.begin());
    leases.push_back(std::move(read));
  }
  return leases;
}

// An appended attempts field (§3): one attempt, 1 or more, per id.
std::vector<std::uint32_t> read_attempts(const msgpack::object& o, std::size_t ids, std::string_view field) {
  const auto all = read_array(o, field);
  check_same_length(ids, all.size(), field);
  std::vector<std::uint32_t> attempts;
  attempts.reserve(all.size());
  for (const auto& element : all) {
    attempts.push_back(read_uint32(element, field));
    if (attempts.back() == 0) throw codec_error(std::string(field) + "[] is 0; attempts count from 1");
  }
  return attempts;
}

// tasks.frames, appended (§6.2.10): each frame holds a task at least.
std::uint32_t read_frames(const msgpack::object& o, std::size_t ids) {
  const std::uint32_t frames = read_uint32(o, "tasks.frames");
  if (frames == 0 || frames > std::max<std::size_t>(1, ids))
    throw codec_error("tasks.frames is " + std::to_string(frames) + " for " + std::to_string(ids) +
                      " task(s); a bundle stands for 1 frame to one per task");
  return frames;
}

TaskBatch read_tasks(const Fields& f) {
  TaskBatch batch{read_uint(f[0], "tasks.job"), read_string(f[1], "tasks.kind"), {}, read_leases(f[4], "tasks.leases")};
  const auto ids = read_array(f[2], "tasks.ids");
  const auto payloads = read_array(f[3], "tasks.payloads");
  check_same_length(ids.size(), payloads.size(), "tasks.payloads");
  batch.tasks.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i)
    batch.tasks.push_back(Task{read_uint(ids[i], "tasks.ids[]"), read_value(payloads[i], "tasks.payloads[]")});
  if (f.size() > 5) batch.attempts = read_attempts(f[5], ids.size(), "tasks.attempts");
  // Every task's first attempt reads as none listed, as the encoder writes it.
  if (!any_retried(batch.attempts)) batch.attempts.clear();
  if (f.size() > 6) batch.frames = read_frames(f[6], ids.size());
  return batch;
}

ResultBatch read_results(const Fields& f) {
  ResultBatch batch{read_uint(f[0], "results.job"), read_string(f[1], "results.worker"), {},
                    read_leases(f[5], "results.leases")};
  const auto ids = read_array(f[2], "results.ids");
  const auto oks = read_array(f[3], "results.oks");
  const auto values = read_array(f[4], "results.values");
  check_same_length(ids.size(), oks.size(), "results.oks");
  check_same_length(ids.size(), values.size(), "results.values");
  batch.results.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const bool ok = read_bool(oks[i], "results.oks[]");
    Value value = read_value(values[i], "results.values[]");
    if (!ok && !std::holds_alternative<std::string>(value) && !std::holds_alternative<ExecValue>(value))
      throw codec_error("results.values[] of a failed task must be its error message (a string) or an exec record");
    batch.results.push_back(Result{read_uint(ids[i], "results.ids[]"), ok, std::move(value)});
  }
  if (f.size() > 6) {
    const auto attempts = read_attempts(f[6], ids.size(), "results.attempts");
    for (std::size_t i = 0; i < attempts.size(); ++i) batch.results[i].attempt = attempts[i];
  }
  return batch;
}

Ack read_ack(const Fields& f) {
  Ack ack{read_uint(f[0], "ack.job"), {}};
  const auto ranges = read_array(f[1], "ack.ranges");
  ack.ranges.reserve(ranges.size());
  for (const auto& range : ranges) {
    const auto bounds = read_array(range, "ack.ranges[]");
    if (bounds.size() != 2) throw codec_error("ack.ranges[] must be [first, last]");
    const TaskId first = read_uint(bounds[0], "ack.ranges[][0]");
    const TaskId last = read_uint(bounds[1], "ack.ranges[][1]");
    if (last < first) throw codec_error("ack.ranges[] has last < first");
    ack.ranges.emplace_back(first, last);
  }
  return ack;
}

Retry read_retry(const Fields& f) {
  Retry retry{read_uint(f[0], "retry.job"), {}, {}};
  const auto ids = read_array(f[1], "retry.ids");
  retry.ids.reserve(ids.size());
  for (const auto& id : ids) retry.ids.push_back(read_uint(id, "retry.ids[]"));
  retry.attempts = read_attempts(f[2], ids.size(), "retry.attempts");
  return retry;
}

Status read_status(const Fields& f) {
  Status status;
  status.job = read_uint(f[0], "status.job");
  status.kind = read_string(f[1], "status.kind");
  status.phase = read_string(f[2], "status.phase");
  status.total = read_optional_uint(f[3], "status.total");
  status.read = read_uint(f[4], "status.read");
  status.acknowledged = read_uint(f[5], "status.acknowledged");
  status.failed = read_uint(f[6], "status.failed");
  status.in_flight = read_uint(f[7], "status.in_flight");
  status.dealt_again = read_uint(f[8], "status.dealt_again");
  status.workers_lost = read_uint(f[9], "status.workers_lost");
  status.elapsed_ms = read_uint(f[10], "status.elapsed_ms");
  status.rate = read_uint(f[11], "status.rate");
  status.workers = read_uint(f[12], "status.workers");
  const auto rows = read_array(f[13], "status.rows");
  if (rows.size() > Status::max_rows)
    throw codec_error("status.rows has " + std::to_string(rows.size()) + " entries, more than " +
                      std::to_string(Status::max_rows));
  status.rows.reserve(rows.size());
  for (const auto& element : rows) {
    const auto row = read_array(element, "status.rows[]");
    if (row.size() < 5) throw codec_error("status.rows[] must be [name, host, held, done, idle_ms]");
    status.rows.push_back(WorkerStatus{read_string(row[0], "status.rows[].name"), read_string(row[1], "status.rows[].host"),
                                       read_uint(row[2], "status.rows[].held"), read_uint(row[3], "status.rows[].done"),
                                       read_uint(row[4], "status.rows[].idle_ms")});
  }
  // retried was appended (--retries): absent, none.
  if (f.size() > 14) status.retried = read_uint(f[14], "status.retried");
  return status;
}

HaltPolicy read_halt(const msgpack::object& o) {
  if (o.type == msgpack::type::NIL) return {};
  const auto f = read_array(o, "job.halt");
  if (f.size() < 4) throw codec_error("job.halt needs 4 elements [when, on, count, basis_points], got " + std::to_string(f.size()));
  const std::uint32_t when = read_uint32(f[0], "job.halt.when");
  const std::uint32_t on = read_uint32(f[1], "job.halt.on");
  HaltPolicy halt{static_cast<HaltPolicy::When>(when), static_cast<HaltPolicy::On>(on), read_uint(f[2], "job.halt.count"),
                  read_uint32(f[3], "job.halt.basis_points")};
  if (when != 1 && when != 2) throw codec_error("job.halt.when must be 1 (soon) or 2 (now), got " + std::to_string(when));
  if (on != 1 && on != 2) throw codec_error("job.halt.on must be 1 (fail) or 2 (success), got " + std::to_string(on));
  if ((halt.count == 0) == (halt.basis_points == 0) || halt.basis_points > 10000)
    throw codec_error("job.halt needs exactly one of count and basis_points (1 ... 10000) above 0");
  return halt;
}

Message read_message(const msgpack::object& top) {
  if (top.type != msgpack::type::ARRAY) wrong_type("a frame", "an array", top);
  const std::span<const msgpack::object> all{top.via.array.ptr, top.via.array.size};
  if (all.size() < 2) throw codec_error("a frame needs at least [version, type]");
  const std::uint64_t version = read_uint(all[0], "version");
  if (version != protocol_version)
    throw codec_error("protocol version " + std::to_string(version) + " is not spoken here (this build speaks " +
                      std::to_string(protocol_version) + (version < protocol_version
                                                              ? ", which adds task leases): upgrade the peer"
                                                              : "): upgrade this program"));
  const std::uint64_t type = read_uint(all[1], "message type");
  if (type < static_cast<std::uint64_t>(MessageType::hello) || type > static_cast<std::uint64_t>(MessageType::halt))
    throw codec_error("unknown message type " + std::to_string(type));
  switch (static_cast<MessageType>(type)) {
    case MessageType::hello: {
      const Fields f(all, "hello", 2);
      Hello hello{read_string(f[0], "hello.worker"), read_uint32(f[1], "hello.window"), std::nullopt};
      // kinds was appended in revision 1.1: a hello without it is an older
      // worker's, taken to run every kind.
      if (f.size() > 2) {
        hello.kinds.emplace();
        for (const auto& kind : read_array(f[2], "hello.kinds")) hello.kinds->push_back(read_string(kind, "hello.kinds[]"));
      }
      // bundle, appended after kinds: absent, one frame per message.
      if (f.size() > 3) {
        hello.bundle = read_uint32(f[3], "hello.bundle");
        if (hello.bundle == 0) throw codec_error("hello.bundle is 0; a worker takes at least one frame per message");
      }
      return hello;
    }
    case MessageType::credit: {
      const Fields f(all, "credit", 1);
      return Credit{read_uint32(f[0], "credit.batches")};
    }
    case MessageType::tasks: return read_tasks(Fields(all, "tasks", 5));
    case MessageType::results: return read_results(Fields(all, "results", 6));
    case MessageType::job: {
      const Fields f(all, "job", 6);
      // retries, halt, resume_token, resume_failed and window were appended:
      // a manifest without them retries nothing, never halts, reopens
      // nothing, and leaves the sink to assume a window.
      return JobManifest{read_uint(f[0], "job.job"),         read_string(f[1], "job.kind"),
                         read_optional_uint(f[2], "job.total"), read_string(f[3], "job.fingerprint"),
                         read_bool(f[4], "job.resume"),       read_uint(f[5], "job.acknowledged"),
                         f.size() > 6 ? read_uint32(f[6], "job.retries") : 0,
                         f.size() > 7 ? read_halt(f[7]) : HaltPolicy{},
                         f.size() > 8 ? read_uint(f[8], "job.resume_token") : 0,
                         f.size() > 9 && read_bool(f[9], "job.resume_failed"),
                         f.size() > 10 ? read_uint(f[10], "job.window") : 0};
    }
    case MessageType::job_accepted: {
      const Fields f(all, "job_accepted", 4);
      return JobAccepted{read_uint(f[0], "job_accepted.job"), read_optional_uint(f[1], "job_accepted.total"),
                         read_uint(f[2], "job_accepted.completed"), read_string(f[3], "job_accepted.lease_secret"),
                         // reorder_buffer was appended (--keep-order): absent, no limit.
                         f.size() > 4 ? read_uint(f[4], "job_accepted.reorder_buffer") : 0};
    }
    case MessageType::job_refused: {
      const Fields f(all, "job_refused", 2);
      return JobRefused{read_uint(f[0], "job_refused.job"), read_string(f[1], "job_refused.reason")};
    }
    case MessageType::ack: return read_ack(Fields(all, "ack", 2));
    case MessageType::job_end: {
      const Fields f(all, "job_end", 2);
      return JobEnd{read_uint(f[0], "job_end.job"), read_bool(f[1], "job_end.complete")};
    }
    case MessageType::hello_again: return HelloAgain{};
    case MessageType::status_request: return StatusRequest{};
    case MessageType::status: return read_status(Fields(all, "status", 14));
    case MessageType::retry: return read_retry(Fields(all, "retry", 3));
    case MessageType::halt: {
      const Fields f(all, "halt", 3);
      return Halt{read_uint(f[0], "halt.job"), read_bool(f[1], "halt.now"), read_string(f[2], "halt.reason")};
    }
  }
  throw codec_error("unknown message type " + std::to_string(type));
}

// Counts the values in a frame without allocating anything, so that a frame
// of millions of one-byte values is refused before msgpack allocates an
// object (24 bytes) for each. Returns false past `most` values, or when the
// frame declares more values than it has bytes.
bool within_value_count(std::string_view frame, std::uint64_t most) {
  const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(frame[at]); };
  const auto big_endian = [&](std::size_t at, int bytes) {
    std::uint64_t number = 0;
    for (int i = 0; i < bytes; ++i) number = number << 8 | byte(at + static_cast<std::size_t>(i));
    return number;
  };
  std::uint64_t pending = 1;  // values still to read
  std::uint64_t seen = 0;
  std::size_t at = 0;
  while (pending > 0) {
    if (at >= frame.size() || ++seen > most || pending > frame.size() - at) return seen <= most;
    --pending;
    const unsigned char head = byte(at++);
    std::uint64_t skip = 0;     // bytes of payload after the header
    std::uint64_t children = 0;  // values inside this one
    int length_bytes = 0;
    if (head <= 0x7f || head >= 0xe0 || (head >= 0xc0 && head <= 0xc3)) {
    } else if (head >= 0xa0 && head <= 0xbf) {
      skip = head & 0x1f;
    } else if (head >= 0x90 && head <= 0x9f) {
      children = head & 0x0f;
    } else if (head >= 0x80 && head <= 0x8f) {
      children = 2 * (head & 0x0f);
    } else {
      switch (head) {
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xd4: skip = 2; break;
        case 0xd5: skip = 3; break;
        case 0xd6: skip = 5; break;
        case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        case 0xc4: case 0xd9: length_bytes = 1; break;
        case 0xc5: case 0xda: length_bytes = 2; break;
        case 0xc6: case 0xdb: length_bytes = 4; break;
        case 0xc7: length_bytes = 1; skip = 1; break;
        case 0xc8: length_bytes = 2; skip = 1; break;
        case 0xc9: length_bytes = 4; skip = 1; break;
        case 0xdc: children = 0; length_bytes = -2; break;
        case 0xdd: children = 0; length_bytes = -4; break;
        case 0xde: length_bytes = -2; children = 1; break;
        case 0xdf: length_bytes = -4; children = 1; break;
        default: return true;  // reserved byte: msgpack reports it
      }
    }
    if (length_bytes != 0) {
      const int width = length_bytes < 0 ? -length_bytes : length_bytes;
      if (frame.size() - at < static_cast<std::size_t>(width)) return true;  // truncated: msgpack reports it
      const std::uint64_t length = big_endian(at, width);
      at += static_cast<std::size_t>(width);
      if (length_bytes > 0) skip += length;
      else children = children == 1 ? 2 * length : length;
    }
    if (skip > frame.size() - at) return true;  // truncated: msgpack reports it
    at += static_cast<std::size_t>(skip);
    pending += children;
  }
  return true;
}

// Strings are copied out of the frame while walking it, so msgpack may point
// into the frame instead of copying every string into its zone first.
bool reference_strings(msgpack::type::object_type, std::size_t, void*) { return true; }

}  // namespace

void encode(const Message& message, std::string& out) {
  out.clear();
  Packer packer(out);
  std::visit([&](const auto& m) { pack(packer, m); }, message);
}

void encode(const TaskBatch& batch, std::string& out) {
  out.clear();
  Packer packer(out);
  pack(packer, batch);
}

void encode(const ResultBatch& batch, std::string& out) {
  out.clear();
  Packer packer(out);
  pack(packer, batch);
}

std::string encode(const Message& message) {
  std::string out;
  encode(message, out);
  return out;
}

Message decode(std::string_view frame, const DecodeLimits& limits) {
  if (auto message = detail::decode_direct(frame, limits)) return std::move(*message);
  return decode_generic(frame, limits);
}

void decode_into(std::string_view frame, Message& message, const DecodeLimits& limits) {
  if (!detail::decode_direct_into(frame, limits, message)) message = decode_generic(frame, limits);
}

Message decode_generic(std::string_view frame, const DecodeLimits& limits) {
  if (frame.empty()) throw codec_error("empty frame");
  if (frame.size() > limits.max_frame_bytes)
    throw codec_error("frame of " + std::to_string(frame.size()) + " bytes exceeds the limit of " +
                      std::to_string(limits.max_frame_bytes));
  // Every item of a frame takes at most 3 values (a result: id, ok, value).
  if (!within_value_count(frame, 4 * static_cast<std::uint64_t>(limits.max_items) + 64))
    throw codec_error("frame holds more values than any message may (" + std::to_string(4 * limits.max_items + 64) + ")");
  // Depth 3 is the deepest any message nests: frame / ack ranges / range.
  const msgpack::unpack_limit bounds(limits.max_items, 0, limits.max_string_bytes, limits.max_string_bytes, 0, 3);
  // One zone per thread, cleared after each frame: clearing keeps its first
  // chunk, so decoding a small frame allocates nothing, and frees the rest,
  // so a large frame's memory is not kept.
  thread_local msgpack::zone zone;
  struct ClearAfter {
    ~ClearAfter() { zone.clear(); }
  } clear_after;
  try {
    std::size_t offset = 0;
    bool referenced = false;
    const msgpack::object top =
        msgpack::unpack(zone, frame.data(), frame.size(), offset, referenced, reference_strings, nullptr, bounds);
    if (offset != frame.size())
      throw codec_error(std::to_string(frame.size() - offset) + " trailing bytes after the message");
    return read_message(top);
  } catch (const codec_error&) {
    throw;
  } catch (const msgpack::insufficient_bytes&) {
    throw codec_error("truncated frame");
  } catch (const msgpack::array_size_overflow&) {
    throw codec_error("an array is longer than " + std::to_string(limits.max_items) + " entries");
  } catch (const msgpack::map_size_overflow&) {
    throw codec_error("maps are not part of the protocol");
  } catch (const msgpack::str_size_overflow&) {
    throw codec_error("a string is longer than " + std::to_string(limits.max_string_bytes) + " bytes");
  } catch (const msgpack::bin_size_overflow&) {
    throw codec_error("a binary is longer than " + std::to_string(limits.max_string_bytes) + " bytes");
  } catch (const msgpack::ext_size_overflow&) {
    throw codec_error("extension types are not part of the protocol");
  } catch (const msgpack::depth_size_overflow&) {
    throw codec_error("nesting deeper than 3 levels");
  } catch (const msgpack::unpack_error& e) {
    throw codec_error(std::string("not msgpack: ") + e.what());
  } catch (const msgpack::type_error&) {
    throw codec_error("a field has the wrong msgpack type");
  } catch (const std::bad_alloc&) {
    throw codec_error("frame declares more memory than can be allocated");
  }
}

Message decode(std::span<const std::byte> frame, const DecodeLimits& limits) {
  return decode(std::string_view(reinterpret_cast<const char*>(frame.data()), frame.size()), limits);
}

std::optional<MessageType> peek_type(std::string_view frame) {
  // Every frame is a fixarray (0x92..0x9f) or array16 (0xdc) whose first two
  // elements, version and type, are positive fixints.
  std::size_t at = 0;
  if (frame.empty()) return std::nullopt;
  const auto head = static_cast<unsigned char>(frame[0]);
  if (head >= 0x92 && head <= 0x9f) at = 1;
  else if (head == 0xdc) at = 3;
  else return std::nullopt;
  if (frame.size() < at + 2) return std::nullopt;
  if (static_cast<unsigned char>(frame[at]) != protocol_version) return std::nullopt;
  const auto type = static_cast<unsigned char>(frame[at + 1]);
  if (type < static_cast<unsigned char>(MessageType::hello) || type > static_cast<unsigned char>(MessageType::halt))
    return std::nullopt;
  return static_cast<MessageType>(type);
}

std::string_view message_name(const Message& message) {
  static constexpr std::string_view names[] = {"hello", "credit", "tasks", "results", "job",
                                               "job_accepted", "job_refused", "ack", "job_end", "hello_again",
                                               "status_request", "status", "retry", "halt"};
  return names[message.index()];
}

}  // namespace zpipe
