// See codec_direct.hpp. Every check here mirrors one of the generic
// decoder's (codec.cpp) or msgpack-c's own; where this reader cannot be sure
// it returns nullopt rather than decide.
#include "codec_direct.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace zpipe::detail {
namespace {

// An integer as msgpack-c types it: a signed encoding of a value >= 0 is a
// positive integer, as an unsigned one is.
struct Integer {
  bool negative = false;
  std::uint64_t magnitude = 0;  // the value when not negative
  std::int64_t value = 0;       // the value when negative
};

class Reader {
 public:
  Reader(std::string_view bytes, std::uint64_t most_values)
      : at_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(at_ + bytes.size()), values_left_(most_values) {}

  [[nodiscard]] bool at_end() const { return at_ == end_; }
  /// Bytes left: a bound on the values left, each at least one byte, so an
  /// array is never sized by a length the frame cannot hold.
  [[nodiscard]] std::size_t bytes_left() const { return static_cast<std::size_t>(end_ - at_); }

  bool array(std::size_t& size, std::size_t most) {
    if (!counted() || at_ == end_) return false;
    const unsigned char head = *at_++;
    std::uint64_t length = 0;
    if (head >= 0x90 && head <= 0x9f) length = head & 0x0f;
    else if (head == 0xdc) { if (!big_endian<2>(length)) return false; }
    else if (head == 0xdd) { if (!big_endian<4>(length)) return false; }
    else return false;
    if (length > most || length > bytes_left()) return false;
    size = static_cast<std::size_t>(length);
    return true;
  }

  bool uint(std::uint64_t& number) {
    Integer read;
    if (!integer(read) || read.negative) return false;
    number = read.magnitude;
    return true;
  }

  bool boolean(bool& flag) {
    if (!counted() || at_ == end_ || (*at_ != 0xc2 && *at_ != 0xc3)) return false;
    flag = *at_++ == 0xc3;
    return true;
  }

  // A str or a bin, as read_string takes either.
  bool bytes(std::string_view& text, std::size_t most, bool bin_only = false) {
    if (!counted() || at_ == end_) return false;
    const unsigned char head = *at_++;
    std::uint64_t length = 0;
    bool read = true;
    if (head >= 0xa0 && head <= 0xbf && !bin_only) length = head & 0x1f;
    else if ((head == 0xd9 && !bin_only) || head == 0xc4) read = big_endian<1>(length);
    else if ((head == 0xda && !bin_only) || head == 0xc5) read = big_endian<2>(length);
    else if ((head == 0xdb && !bin_only) || head == 0xc6) read = big_endian<4>(length);
    else return false;
    if (!read || length > most || length > static_cast<std::uint64_t>(end_ - at_)) return false;
    text = {reinterpret_cast<const char*>(at_), static_cast<std::size_t>(length)};
    at_ += length;
    return true;
  }

  // An integer that fits an int64; false for anything else.
  bool int64(std::int64_t& number) {
    if (at_ == end_ || !integer_head(*at_)) return false;
    Integer read;
    if (!integer(read)) return false;
    if (read.negative) {
      number = read.value;
      return true;
    }
    if (read.magnitude > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    number = static_cast<std::int64_t>(read.magnitude);
    return true;
  }

  static bool integer_head(unsigned char head) { return head <= 0x7f || head >= 0xe0 || (head >= 0xcc && head <= 0xd3); }

  // nil, an integer that fits an int64, a string or a bin: the Values
  // read_value takes other than exec records.
  bool value(Value& out, std::size_t most_string) {
    if (at_ == end_) return false;
    const unsigned char head = *at_;
    if (head == 0xc0) {
      if (!counted()) return false;
      ++at_;
      out = Value{};
      return true;
    }
    if ((head >= 0xa0 && head <= 0xbf) || head == 0xd9 || head == 0xda || head == 0xdb || head == 0xc4 || head == 0xc5 ||
        head == 0xc6) {
      std::string_view text;
      if (!bytes(text, most_string)) return false;
      out = Value{std::string(text)};
      return true;
    }
    Integer read;
    if (!integer(read)) return false;
    if (read.negative) {
      out.emplace<std::int64_t>(read.value);
      return true;
    }
    if (read.magnitude > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out.emplace<std::int64_t>(static_cast<std::int64_t>(read.magnitude));
    return true;
  }

 private:
  bool counted() {
    if (values_left_ == 0) return false;
    --values_left_;
    return true;
  }

  bool integer(Integer& out) {
    if (!counted() || at_ == end_) return false;
    const unsigned char head = *at_++;
    if (head <= 0x7f) {
      out = {false, head, 0};
      return true;
    }
    if (head >= 0xe0) {
      out = {true, 0, static_cast<std::int8_t>(head)};
      return true;
    }
    // Each width its own case: a fixed-width load, not a loop over bytes
    // (ids and numbers are most of what a tasks or results frame holds).
    std::uint64_t raw = 0;
    bool read = false;
    switch (head) {
      case 0xcc: case 0xd0: read = big_endian<1>(raw); break;
      case 0xcd: case 0xd1: read = big_endian<2>(raw); break;
      case 0xce: case 0xd2: read = big_endian<4>(raw); break;
      case 0xcf: case 0xd3: read = big_endian<8>(raw); break;
      default: return false;
    }
    if (!read) return false;
    if (head <= 0xcf) {
      out = {false, raw, 0};
      return true;
    }
    // Sign-extend the width's two's complement.
    const unsigned shift = static_cast<unsigned>(64 - 8 * (std::size_t{1} << (head - 0xd0)));
    const auto number = static_cast<std::int64_t>(raw << shift) >> shift;
    if (number < 0) out = {true, 0, number};
    else out = {false, static_cast<std::uint64_t>(number), 0};
    return true;
  }

  template <std::size_t width>
  bool big_endian(std::uint64_t& number) {
    if (static_cast<std::size_t>(end_ - at_) < width) return false;
    if constexpr (width == 1) {
      number = *at_;
    } else {
      using Word = std::conditional_t<width == 2, std::uint16_t, std::conditional_t<width == 4, std::uint32_t, std::uint64_t>>;
      Word word;
      std::memcpy(&word, at_, width);
      if constexpr (width == 2) number = __builtin_bswap16(word);
      else if constexpr (width == 4) number = __builtin_bswap32(word);
      else number = __builtin_bswap64(word);
    }
    at_ += width;
    return true;
  }

  const unsigned char* at_;
  const unsigned char* end_;
  std::uint64_t values_left_;
};

bool read_leases(Reader& in, std::vector<Lease>& leases, const DecodeLimits& limits) {
  std::size_t count = 0;
  if (!in.array(count, limits.max_items)) return false;
  leases.resize(count);
  for (Lease& lease : leases) {
    std::size_t fields = 0;
    std::string_view token;
    if (!in.array(fields, limits.max_items) || fields != 3 || !in.uint(lease.first) || !in.uint(lease.last) ||
        lease.last < lease.first || !in.bytes(token, limits.max_string_bytes, true) || token.size() != lease.token.size())
      return false;
    std::copy(token.begin(), token.end(), lease.token.begin());
  }
  return true;
}

// attempts, appended (§3): one per id, each 1 to 2^32-1.
template <class Store>
bool read_attempts(Reader& in, std::size_t ids, const DecodeLimits& limits, Store store) {
  std::size_t count = 0;
  if (!in.array(count, limits.max_items) || count != ids) return false;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint64_t attempt = 0;
    if (!in.uint(attempt) || attempt == 0 || attempt > std::numeric_limits<std::uint32_t>::max()) return false;
    store(i, static_cast<std::uint32_t>(attempt));
  }
  return true;
}

// A tasks frame read into a TaskBatch (Values) or IntegerTasks (columns):
// the same checks, in the same order, whichever it fills.
std::size_t task_count(const TaskBatch& batch) { return batch.tasks.size(); }
std::size_t task_count(const IntegerTasks& tasks) { return tasks.ids.size(); }
void resize(TaskBatch& batch, std::size_t count) { batch.tasks.resize(count); }
void resize(IntegerTasks& tasks, std::size_t count) {
  tasks.ids.resize(count);
  tasks.payloads.resize(count);
}
TaskId& id_at(TaskBatch& batch, std::size_t i) { return batch.tasks[i].id; }
TaskId& id_at(IntegerTasks& tasks, std::size_t i) { return tasks.ids[i]; }
bool read_payload(Reader& in, TaskBatch& batch, std::size_t i, const DecodeLimits& limits) {
  return in.value(batch.tasks[i].payload, limits.max_string_bytes);
}
bool read_payload(Reader& in, IntegerTasks& tasks, std::size_t i, const DecodeLimits&) {
  return in.int64(tasks.payloads[i]);
}

template <class Tasks>
bool read_tasks(Reader& in, std::size_t fields, const DecodeLimits& limits, Tasks& batch) {
  std::string_view kind;
  std::size_t ids = 0, payloads = 0;
  if (!in.uint(batch.job) || !in.bytes(kind, limits.max_string_bytes) || !in.array(ids, limits.max_items))
    return false;
  batch.kind = kind;
  resize(batch, ids);
  for (std::size_t i = 0; i < ids; ++i)
    if (!in.uint(id_at(batch, i))) return false;
  if (!in.array(payloads, limits.max_items) || payloads != ids) return false;
  for (std::size_t i = 0; i < ids; ++i)
    if (!read_payload(in, batch, i, limits)) return false;
  if (!read_leases(in, batch.leases, limits)) return false;
  // Every task's first attempt reads as none listed, as the encoder writes
  // it: the list is made only once an attempt past the first shows.
  batch.attempts.clear();
  if (fields >= 8 && !read_attempts(in, ids, limits, [&](std::size_t i, std::uint32_t attempt) {
        if (attempt != 1 && batch.attempts.empty()) batch.attempts.assign(ids, 1);
        if (!batch.attempts.empty()) batch.attempts[i] = attempt;
      }))
    return false;
  batch.frames = 1;
  if (fields == 9) {
    std::uint64_t frames = 0;
    if (!in.uint(frames) || frames == 0 || frames > std::max<std::size_t>(1, task_count(batch))) return false;
    batch.frames = static_cast<std::uint32_t>(frames);
  }
  return true;
}

// Into `batch`, whose vectors it reuses: every field of every result is set.
bool read_results(Reader& in, std::size_t fields, const DecodeLimits& limits, ResultBatch& batch) {
  std::string_view worker;
  std::size_t ids = 0, oks = 0, values = 0;
  if (!in.uint(batch.job) || !in.bytes(worker, limits.max_string_bytes) || !in.array(ids, limits.max_items))
    return false;
  batch.worker = worker;
  batch.results.resize(ids);
  for (Result& result : batch.results) {
    if (!in.uint(result.id)) return false;
    result.attempt = 1;  // unless the attempts field says otherwise
  }
  if (!in.array(oks, limits.max_items) || oks != ids) return false;
  for (Result& result : batch.results)
    if (!in.boolean(result.ok)) return false;
  if (!in.array(values, limits.max_items) || values != ids) return false;
  for (Result& result : batch.results) {
    if (!in.value(result.value, limits.max_string_bytes)) return false;
    // A failure's value is its message (or an exec record, left to the generic decoder).
    if (!result.ok && !std::holds_alternative<std::string>(result.value)) return false;
  }
  if (!read_leases(in, batch.leases, limits)) return false;
  if (fields == 9 &&
      !read_attempts(in, ids, limits, [&](std::size_t i, std::uint32_t attempt) { batch.results[i].attempt = attempt; }))
    return false;
  return true;
}

// The generic decoder refuses a frame of more values than this before it
// reads anything.
Reader frame_reader(std::string_view frame, const DecodeLimits& limits) {
  return Reader(frame, 4 * static_cast<std::uint64_t>(limits.max_items) + 64);
}

// [version, type, ...]: false unless the frame starts so, with this version.
bool read_header(Reader& in, std::size_t& fields, std::uint64_t& type, const DecodeLimits& limits) {
  std::uint64_t version = 0;
  return in.array(fields, limits.max_items) && in.uint(version) && version == protocol_version && in.uint(type);
}

}  // namespace

bool decode_direct_into(std::string_view frame, const DecodeLimits& limits, Message& out) {
  if (frame.empty() || frame.size() > limits.max_frame_bytes) return false;
  Reader in = frame_reader(frame, limits);
  std::size_t fields = 0;
  std::uint64_t type = 0;
  if (!read_header(in, fields, type, limits)) return false;
  // The message `out` holds already, if of the same type, lends its vectors.
  const auto reused = [&out]<class Batch>(std::type_identity<Batch>) -> Batch& {
    if (auto* batch = std::get_if<Batch>(&out)) return *batch;
    return out.emplace<Batch>();
  };
  bool read = false;
  if (type == static_cast<std::uint64_t>(MessageType::tasks) && (fields >= 7 && fields <= 9))
    read = read_tasks(in, fields, limits, reused(std::type_identity<TaskBatch>{}));
  else if (type == static_cast<std::uint64_t>(MessageType::results) && (fields == 8 || fields == 9))
    read = read_results(in, fields, limits, reused(std::type_identity<ResultBatch>{}));
  return read && in.at_end();
}

std::optional<Message> decode_direct(std::string_view frame, const DecodeLimits& limits) {
  Message message;
  if (!decode_direct_into(frame, limits, message)) return std::nullopt;
  return message;
}

}  // namespace zpipe::detail

namespace zpipe {

std::optional<std::string_view> peek_tasks_kind(std::string_view frame) {
  const DecodeLimits limits;
  if (frame.empty() || frame.size() > limits.max_frame_bytes) return std::nullopt;
  detail::Reader in = detail::frame_reader(frame, limits);
  std::size_t fields = 0;
  std::uint64_t type = 0, job = 0;
  std::string_view kind;
  if (!detail::read_header(in, fields, type, limits) || type != static_cast<std::uint64_t>(MessageType::tasks) ||
      fields < 7 || fields > 9 || !in.uint(job) || !in.bytes(kind, limits.max_string_bytes))
    return std::nullopt;
  return kind;
}

bool decode_integer_tasks(std::string_view frame, IntegerTasks& tasks, const DecodeLimits& limits) {
  if (frame.empty() || frame.size() > limits.max_frame_bytes) return false;
  detail::Reader in = detail::frame_reader(frame, limits);
  std::size_t fields = 0;
  std::uint64_t type = 0;
  return detail::read_header(in, fields, type, limits) && type == static_cast<std::uint64_t>(MessageType::tasks) &&
         fields >= 7 && fields <= 9 && detail::read_tasks(in, fields, limits, tasks) && in.at_end();
}

}  // namespace zpipe
