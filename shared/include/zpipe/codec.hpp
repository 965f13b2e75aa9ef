// Encoding and decoding of protocol frames (msgpack, see shared/PROTOCOL.md).
// Decoding is bounded and total: any frame, however hostile, either yields a
// message or throws codec_error; nothing it declares is allocated unchecked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "zpipe/messages.hpp"

namespace zpipe {

/// The one error type for frames that are not valid protocol messages.
class codec_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What a decoder accepts at most. The defaults are the protocol's limits
/// (PROTOCOL.md, "Limits"); every receiving socket sets ZMQ_MAXMSGSIZE to
/// max_frame_bytes so larger frames never reach the decoder.
/// An exec record's first element, and how many elements it has (§4.1).
inline constexpr std::string_view exec_record_tag = "exec";
inline constexpr std::size_t exec_record_fields = 11;

struct DecodeLimits {
  std::size_t max_frame_bytes = 16 * 1024 * 1024;
  std::size_t max_items = 65536;              // tasks, results or ack ranges per frame
  std::size_t max_string_bytes = 1024 * 1024;  // any one payload, value or name
};

/// Encodes a message into `out`, replacing what it held (its capacity is
/// reused, which keeps the per-batch path free of allocations).
void encode(const Message& message, std::string& out);
void encode(const TaskBatch& batch, std::string& out);
void encode(const ResultBatch& batch, std::string& out);

/// Returns the encoded frame of a message.
[[nodiscard]] std::string encode(const Message& message);

/// Decodes one frame. Throws codec_error saying what is wrong with it.
[[nodiscard]] Message decode(std::span<const std::byte> frame, const DecodeLimits& limits = {});
[[nodiscard]] Message decode(std::string_view frame, const DecodeLimits& limits = {});
/// As decode(), into `message`: a tasks or results message already there
/// lends its vectors to a frame of the same type, so a receiver that keeps
/// one allocates nothing per frame. Throws as decode() does, leaving
/// `message` unspecified.
void decode_into(std::string_view frame, Message& message, const DecodeLimits& limits = {});

/// The decoder decode() leaves every frame to that its direct reader of
/// plain tasks and results frames does not take: the same message or the
/// same error for any frame, only slower. For tests and fuzzers that compare.
[[nodiscard]] Message decode_generic(std::string_view frame, const DecodeLimits& limits = {});

/// A tasks frame whose payloads are all integers, read as columns: a
/// worker runs an integer kind (square) over them without a Value per task.
struct IntegerTasks {
  JobId job = 0;
  std::string kind;
  std::vector<TaskId> ids;
  std::vector<std::int64_t> payloads;  // parallel to ids
  std::vector<Lease> leases;
  std::vector<std::uint32_t> attempts;  // as TaskBatch::attempts
  std::uint32_t frames = 1;             // as TaskBatch::frames
  [[nodiscard]] std::uint32_t attempt(std::size_t i) const { return i < attempts.size() ? attempts[i] : 1; }
};

/// Reads a tasks frame whose every payload is an integer into `tasks`,
/// reusing its vectors, and returns true: then decode() gives the same
/// tasks (the decode fuzzer checks it). For any other frame, a bad one
/// included, returns false and leaves the frame to decode().
[[nodiscard]] bool decode_integer_tasks(std::string_view frame, IntegerTasks& tasks, const DecodeLimits& limits = {});

/// The kind a tasks frame names, read from its head alone (the frame may
/// still fail to decode); nullopt for any other frame.
[[nodiscard]] std::optional<std::string_view> peek_tasks_kind(std::string_view frame);

/// Returns the type of a well-formed frame header without decoding the
/// body, so a relay can route a frame cheaply; nullopt when the header is not
/// [1, type, ...]. Decoding the frame may still fail.
[[nodiscard]] std::optional<MessageType> peek_type(std::string_view frame);

/// Returns the protocol name of a message type ("tasks", "ack", ...).
[[nodiscard]] std::string_view message_name(const Message& message);

}  // namespace zpipe
