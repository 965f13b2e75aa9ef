// The codec: round trips of every message, the test vectors of
// shared/PROTOCOL.md byte for byte, every limit at its bound and one past it,
// and hostile frames, each of which must end in codec_error and nothing worse.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "zpipe/codec.hpp"
#include "../shared/src/codec_direct.hpp"

using zpipe::Ack;
using zpipe::codec_error;
using zpipe::Credit;
using zpipe::DecodeLimits;
using zpipe::Halt;
using zpipe::HaltPolicy;
using zpipe::Hello;
using zpipe::HelloAgain;
using zpipe::JobAccepted;
using zpipe::JobEnd;
using zpipe::JobManifest;
using zpipe::JobRefused;
using zpipe::Message;
using zpipe::MessageType;
using zpipe::Result;
using zpipe::ResultBatch;
using zpipe::Retry;
using zpipe::Status;
using zpipe::StatusRequest;
using zpipe::Task;
using zpipe::TaskBatch;
using zpipe::Value;
using Catch::Matchers::Contains;

namespace {

constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t uint64_max = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t uint32_max = std::numeric_limits<std::uint32_t>::max();
constexpr std::size_t mib = 1024 * 1024;

/// Returns the bytes that "94 01 0a ..." spells.
std::string bytes(std::string_view hex) {
  std::string out;
  int high = -1;
  for (const char c : hex) {
    if (c == ' ') continue;
    int nibble = -1;
    if (c >= '0' && c <= '9') nibble = c - '0';
    else if (c >= 'a' && c <= 'f') nibble = c - 'a' + 10;
    else throw std::invalid_argument("not lowercase hex: " + std::string(hex));
    if (high < 0) {
      high = nibble;
    } else {
      out.push_back(static_cast<char>(high * 16 + nibble));
      high = -1;
    }
  }
  if (high >= 0) throw std::invalid_argument("odd number of hex digits: " + std::string(hex));
  return out;
}

/// Returns bytes as PROTOCOL.md writes them: lowercase pairs, one space apart.
std::string hex(std::string_view frame) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char c : frame) {
    const auto byte = static_cast<unsigned char>(c);
    if (!out.empty()) out.push_back(' ');
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 0xf]);
  }
  return out;
}

/// Returns what decode() says is wrong with a frame; "" when it accepts it.
/// Any exception other than codec_error escapes and fails the test.
std::string rejection(std::string_view frame, const DecodeLimits& limits = {}) {
  try {
    (void)zpipe::decode(frame, limits);
    return "";
  } catch (const codec_error& e) {
    return e.what();
  }
}

std::string text(std::size_t size, char fill = 'x') { return std::string(size, fill); }

}  // namespace

namespace Catch {
template <>
struct StringMaker<zpipe::Message> {
  static std::string convert(const zpipe::Message& message) {
    return std::string(zpipe::message_name(message)) + " [" + hex(zpipe::encode(message)) + "]";
  }
};
}  // namespace Catch

namespace {

// The lease secret of the job_accepted vectors: bytes 0 to 15.
const std::string vector_secret = [] {
  std::string secret;
  for (char c = 0; c < 16; ++c) secret += c;
  return secret;
}();

// The leases of vectors 35 and 36 (PROTOCOL.md §6.5 has their tokens).
std::array<char, 16> token(std::string_view hex_text) {
  std::array<char, 16> token{};
  const std::string raw = bytes(hex_text);
  std::copy_n(raw.begin(), token.size(), token.begin());
  return token;
}

const std::vector<zpipe::Lease> vector_leases = {
    {1, 3, token("7a f7 73 97 71 fa 36 84 51 a3 42 be 8b 98 64 b1")},
    {5, 5, token("76 0e b2 20 4b 55 45 d9 01 8c e9 68 55 61 ac ac")},
};

struct Vector {
  std::string_view hex;
  Message message;
};

zpipe::Value exec_value(std::int64_t exit_code, std::int64_t signal, std::string out, std::string err,
                        std::int64_t duration_us, std::string error, std::int64_t started_us = 1764046800000000,
                        std::string command = "") {
  zpipe::ExecRecord record;
  record.exit_code = exit_code;
  record.signal = signal;
  record.out = std::move(out);
  record.err = std::move(err);
  record.started_us = started_us;
  record.duration_us = duration_us;
  record.host = "h";
  record.error = std::move(error);
  record.command = std::move(command);
  return zpipe::ExecValue(std::move(record));
}

// PROTOCOL.md vector 38: a status of two workers.
Status status_vector() {
  return Status{7, "square", "dealing", 1000, 600, 500, 1, 100, 3, 1, 12500, 40, 2,
                {{"w1", "10.0.0.1", 64, 300, 120}, {"w2", "", 36, 200, 4000}}};
}

// PROTOCOL.md, "Test vectors", 1 to 16, 26, 27, 31, 37 to 39, 42 to 45, 50, 70, 72, 74 to 76 and 80: the encoder produces exactly these.
const std::vector<Vector>& canonical_vectors() {
  static const std::vector<Vector> vectors = {
      {"94 02 01 a2 77 31 08", Hello{"w1", 8}},
      {"93 02 02 03", Credit{3}},
      {"93 02 02 00", Credit{0}},
      {"97 02 03 07 a6 73 71 75 61 72 65 93 01 02 03 93 05 a1 78 c0 90",
       TaskBatch{7, "square", {{1, 5}, {2, "x"}, {3, Value{}}}}},
      {"97 02 03 07 a6 73 71 75 61 72 65 90 90 90", TaskBatch{7, "square", {}}},
      {"97 02 03 01 a1 6b 96 7f cc 80 cd ff ff ce 00 01 00 00 cf 00 00 00 01 00 00 00 00 06 96 e0 d0 df cc 80 d3 "
       "80 00 00 00 00 00 00 00 cf 7f ff ff ff ff ff ff ff a0 90",
       TaskBatch{1,
                 "k",
                 {{127, -32}, {128, -33}, {65535, 128}, {65536, int64_min}, {4294967296, int64_max}, {6, ""}}}},
      {"98 02 04 07 a2 77 31 92 01 02 92 c3 c2 92 19 a8 6f 76 65 72 66 6c 6f 77 90",
       ResultBatch{7, "w1", {{1, true, 25}, {2, false, "overflow"}}}},
      {"98 02 05 07 a6 73 71 75 61 72 65 c0 a0 c2 00", JobManifest{7, "square", std::nullopt, "", false, 0}},
      {"98 02 05 07 a6 73 71 75 61 72 65 cd 03 e8 ba 66 6e 76 31 61 36 34 3a 30 31 32 33 34 35 36 37 38 39 61 62 "
       "63 64 65 66 3a 36 c3 cd 01 f4",
       JobManifest{7, "square", 1000, "fnv1a64:0123456789abcdef:6", true, 500}},
      {"96 02 06 07 cd 03 e8 00 c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", JobAccepted{7, 1000, 0, vector_secret}},
      {"96 02 06 07 c0 2a c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", JobAccepted{7, std::nullopt, 42, vector_secret}},
      {"94 02 07 07 d9 23 74 68 69 73 20 73 69 6e 6b 20 69 73 20 63 6f 6c 6c 65 63 74 69 6e 67 20 61 6e 6f 74 68 "
       "65 72 20 6a 6f 62",
       JobRefused{7, "this sink is collecting another job"}},
      {"94 02 08 07 92 92 01 03 92 05 05", Ack{7, {{1, 3}, {5, 5}}}},
      {"94 02 09 07 c3", JobEnd{7, true}},
      {"94 02 09 cf 7f ff ff ff ff ff ff ff c2", JobEnd{static_cast<std::uint64_t>(int64_max), false}},
      {"92 02 0a", HelloAgain{}},
      {"97 02 03 07 a6 73 71 75 61 72 65 94 01 02 03 05 94 01 02 03 05 92 93 01 03 c4 10 7a f7 73 97 71 fa 36 84 51 "
       "a3 42 be 8b 98 64 b1 93 05 05 c4 10 76 0e b2 20 4b 55 45 d9 01 8c e9 68 55 61 ac ac",
       TaskBatch{7, "square", {{1, 1}, {2, 2}, {3, 3}, {5, 5}}, vector_leases}},
      {"98 02 04 07 a2 77 31 94 01 02 03 05 94 c3 c3 c3 c3 94 01 04 09 19 92 93 01 03 c4 10 7a f7 73 97 71 fa 36 84 "
       "51 a3 42 be 8b 98 64 b1 93 05 05 c4 10 76 0e b2 20 4b 55 45 d9 01 8c e9 68 55 61 ac ac",
       ResultBatch{7, "w1", {{1, true, 1}, {2, true, 4}, {3, true, 9}, {5, true, 25}}, vector_leases}},
      // 26 and 27: hello with the kinds field of revision 1.1.
      {"95 02 01 a2 77 31 08 92 a6 73 71 75 61 72 65 a5 75 70 70 65 72",
       Hello{"w1", 8, std::vector<std::string>{"square", "upper"}}},
      {"95 02 01 a2 77 31 08 90", Hello{"w1", 8, std::vector<std::string>{}}},
      // 31: results with exec records (§4.1), one ok and one failed.
      {"98 02 04 07 a2 77 31 92 01 02 92 c3 c2 92 9b a4 65 78 65 63 00 c0 c4 03 68 69 0a c4 00 c2 c2 cf 00 06 44 64 "
       "26 e1 94 00 cd 09 c4 a1 68 a0 9b a4 65 78 65 63 c0 09 c4 01 ff c4 03 65 72 72 c2 c2 cf 00 06 44 64 26 e1 94 "
       "00 ce 00 0f 42 40 a1 68 b2 6b 69 6c 6c 65 64 20 62 79 20 73 69 67 6e 61 6c 20 39 90",
       ResultBatch{7, "w1", {{1, true, exec_value(0, 0, "hi\n", "", 2500, "")},
                             {2, false, exec_value(-1, 9, "\xff", "err", 1000000, "killed by signal 9")}}}},
      // 50: an exec record with its appended command (§4.1, element 11).
      {"98 02 04 07 a2 77 31 91 01 91 c3 91 9c a4 65 78 65 63 00 c0 c4 03 68 69 0a c4 00 c2 c2 cf 00 06 44 64 26 e1 "
       "94 00 cd 09 c4 a1 68 a0 a7 65 63 68 6f 20 68 69 90",
       ResultBatch{7, "w1", {{1, true, exec_value(0, 0, "hi\n", "", 2500, "", 1764046800000000, "echo hi")}}}},
      // 37 to 39: status_request and status (zpipe-status, §6.6).
      {"92 02 0b", StatusRequest{}},
      {"dc 00 10 02 0c 07 a6 73 71 75 61 72 65 a7 64 65 61 6c 69 6e 67 cd 03 e8 cd 02 58 cd 01 f4 01 64 03 01 cd " "30 d4 28 02 92 95 a2 77 31 a8 31 30 2e 30 2e 30 2e 31 40 cd 01 2c 78 95 a2 77 32 a0 24 cc c8 cd 0f a0",
       status_vector()},
      {"dc 00 10 02 0c 07 a6 73 71 75 61 72 65 b4 77 61 69 74 69 6e 67 20 66 6f 72 20 74 68 65 20 73 69 6e 6b c0 " "00 00 00 00 00 00 00 00 00 90",
       Status{7, "square", "waiting for the sink", std::nullopt, 0, 0, 0, 0, 0, 0, 0, 0, 0, {}}},
      // 42 to 45: --retries. Attempts are written only when one is past the
      // first, retries only when above 0 (vectors 4, 7 and 8 stay canonical).
      {"98 02 03 07 a6 73 71 75 61 72 65 92 04 05 92 04 05 90 92 02 01",
       TaskBatch{7, "square", {{4, 4}, {5, 5}}, {}, {2, 1}}},
      {"99 02 04 07 a2 77 31 92 04 05 92 c2 c3 92 a4 62 6f 6f 6d 19 90 92 02 01",
       ResultBatch{7, "w1", {{4, false, "boom", 2}, {5, true, 25, 1}}}},
      {"99 02 05 07 a6 73 71 75 61 72 65 cd 03 e8 a0 c2 00 02", JobManifest{7, "square", 1000, "", false, 0, 2}},
      {"95 02 0d 07 92 04 09 92 02 01", Retry{7, {4, 9}, {2, 1}}},
      // 52 to 55: --halt, --resume's token and --resume-failed, and halt.
      // A field is written when it or one after it is not its default.
      {"9a 02 05 07 a6 73 71 75 61 72 65 cd 03 e8 a0 c2 00 00 94 01 01 01 00",
       JobManifest{7, "square", 1000, "", false, 0, 0, {HaltPolicy::When::soon, HaltPolicy::On::fail, 1, 0}}},
      {"9a 02 05 07 a6 73 71 75 61 72 65 cd 03 e8 a0 c2 00 02 94 02 02 00 cd 09 c4",
       JobManifest{7, "square", 1000, "", false, 0, 2, {HaltPolicy::When::now, HaltPolicy::On::success, 0, 2500}}},
      {"9c 02 05 07 a6 73 71 75 61 72 65 cd 03 e8 a2 66 70 c3 04 00 c0 2a c3",
       JobManifest{7, "square", 1000, "fp", true, 4, 0, {}, 42, true}},
      {"95 02 0e 07 c2 b2 2d 2d 68 61 6c 74 20 73 6f 6f 6e 2c 66 61 69 6c 3d 31", Halt{7, false, "--halt soon,fail=1"}},
      // 80: job.window, appended after them all.
      {"9d 02 05 07 a6 73 71 75 61 72 65 cd 03 e8 a0 c2 00 00 c0 00 c2 ce 00 04 00 00",
       JobManifest{7, "square", 1000, "", false, 0, 0, {}, 0, false, 262144}},
      // 70 and 72: job_accepted.reorder_buffer (--keep-order, §6.8) and
      // status.retried, appended, each written only when above 0 (vectors
      // 10, 11, 38 and 39 stay canonical).
      {"97 02 06 07 cd 03 e8 00 c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 40",
       JobAccepted{7, 1000, 0, vector_secret, 64}},
      {"dc 00 11 02 0c 07 a6 73 71 75 61 72 65 a7 64 65 61 6c 69 6e 67 cd 03 e8 cd 02 58 cd 01 f4 01 64 03 01 cd "
       "30 d4 28 02 92 95 a2 77 31 a8 31 30 2e 30 2e 30 2e 31 40 cd 01 2c 78 95 a2 77 32 a0 24 cc c8 cd 0f a0 05",
       [] {
         Status status = status_vector();
         status.retried = 5;
         return status;
       }()},
      // 74 to 76: hello.bundle and tasks.frames (bundles, §6.2.10), each
      // written only when above 1; a bundle writes its attempts, retried or not.
      {"96 02 01 a2 77 31 08 91 a6 73 71 75 61 72 65 40", Hello{"w1", 8, std::vector<std::string>{"square"}, 64}},
      {"99 02 03 07 a6 73 71 75 61 72 65 93 01 02 03 93 01 02 03 91 93 01 03 c4 10 7a f7 73 97 71 fa 36 84 51 a3 42 "
       "be 8b 98 64 b1 93 01 01 01 03",
       TaskBatch{7, "square", {{1, 1}, {2, 2}, {3, 3}}, {vector_leases.front()}, {}, 3}},
      {"99 02 03 07 a6 73 71 75 61 72 65 93 01 02 03 93 01 02 03 91 93 01 03 c4 10 7a f7 73 97 71 fa 36 84 51 a3 42 "
       "be 8b 98 64 b1 93 01 02 01 03",
       TaskBatch{7, "square", {{1, 1}, {2, 2}, {3, 3}}, {vector_leases.front()}, {1, 2, 1}, 3}},
  };
  return vectors;
}

// PROTOCOL.md 17 and 18, then more of the same kind: valid msgpack that the
// encoder never writes (other widths, bin for str, extra fields).
const std::vector<Vector>& decode_only_vectors() {
  static const std::vector<Vector> vectors = {
      {"97 02 03 07 a1 6b 91 01 91 c4 01 78 90", TaskBatch{7, "k", {{1, "x"}}}},
      {"94 02 02 cd 00 03 c0", Credit{3}},
      {"93 02 02 d0 05", Credit{5}},
      {"93 02 02 cf 00 00 00 00 00 00 00 05", Credit{5}},
      {"93 d0 02 02 03", Credit{3}},
      {"dc 00 03 02 02 03", Credit{3}},
      {"dd 00 00 00 03 02 02 03", Credit{3}},
      {"94 02 01 c4 02 77 31 08", Hello{"w1", 8}},
      {"94 02 01 d9 02 77 31 08", Hello{"w1", 8}},
      {"94 02 01 da 00 02 77 31 08", Hello{"w1", 8}},
      {"97 02 03 07 a1 6b 91 01 91 d3 ff ff ff ff ff ff ff ff 90", TaskBatch{7, "k", {{1, -1}}}},
      {"97 02 03 07 a1 6b 91 01 91 d0 05 90", TaskBatch{7, "k", {{1, 5}}}},
      {"94 02 08 07 92 92 05 05 92 01 03", Ack{7, {{5, 5}, {1, 3}}}},
      {"94 02 08 07 92 92 01 05 92 02 03", Ack{7, {{1, 5}, {2, 3}}}},
      // 28: kinds as bin, bundle as a uint16, and a field after it (a later revision's).
      {"97 02 01 a2 77 31 08 91 c4 01 78 cd 00 01 c0", Hello{"w1", 8, std::vector<std::string>{"x"}}},
      // 32: an exec record with str for bin, and an element after its last.
      {"98 02 04 07 a2 77 31 91 01 91 c3 91 9c a4 65 78 65 63 00 c0 a2 68 69 a0 c2 c2 00 00 a1 68 a0 c0 90",
       ResultBatch{7, "w1", {{1, true, exec_value(0, 0, "hi", "", 0, "", 0)}}}},
      // 46: an attempt as a uint16.
      {"98 02 03 07 a1 6b 91 01 91 a1 78 90 91 cd 00 02", TaskBatch{7, "k", {{1, "x"}}, {}, {2}}},
      // 60: every appended field of a job written with its default.
      {"9c 02 05 07 a1 6b c0 a0 c2 00 cc 00 c0 00 c2", JobManifest{7, "k", std::nullopt, "", false, 0}},
  };
  return vectors;
}

struct Rejection {
  std::string_view hex;
  std::string_view reason;  // a fragment of codec_error::what()
};

// PROTOCOL.md 19 to 25, 29, 30, 33, 34, 40, 41, 47 to 49, 51, 71, 73, 77 to 79 and 81.
const std::vector<Rejection>& spec_rejections() {
  static const std::vector<Rejection> rejections = {
      {"93 01 02 03", "protocol version 1"},
      {"92 02 7f", "unknown message type 127"},
      {"dd ff ff ff ff", "longer than 65536"},
      {"93 02 02 03 c0", "trailing"},
      {"94 02 08 07 91 92 05 01", "last < first"},
      {"98 02 04 07 a1 77 91 01 91 c2 91 05 90", "failed task"},
      {"97 02 03 07 a1 6b 91 01 91 cf 80 00 00 00 00 00 00 00 90", "exceeds 2^63-1"},
      {"95 02 01 a2 77 31 08 a1 78", "hello.kinds must be an array"},
      {"95 02 01 a2 77 31 08 91 01", "hello.kinds[] must be a string"},
      {"98 02 04 07 a2 77 31 91 01 91 c3 91 92 01 02 90", "not an exec record"},
      {"98 02 04 07 a2 77 31 91 01 91 c3 91 92 a4 65 78 65 63 00 90", "exec record needs 11"},
      {"98 02 04 07 a2 77 31 91 01 91 c3 91 9c a4 65 78 65 63 00 c0 c4 00 c4 00 c2 c2 00 00 a1 68 a0 01 90", "exec.command"},
      // 40 and 41: a status row of 4 elements, and one that is not an array.
      {"dc 00 10 02 0c 07 a6 73 71 75 61 72 65 a7 64 65 61 6c 69 6e 67 cd 03 e8 cd 02 58 cd 01 f4 01 64 03 01 cd " "30 d4 28 01 91 94 a2 77 31 a8 31 30 2e 30 2e 30 2e 31 40 cd 01 2c",
       "status.rows[] must be [name, host, held, done, idle_ms]"},
      {"dc 00 10 02 0c 07 a6 73 71 75 61 72 65 a7 64 65 61 6c 69 6e 67 cd 03 e8 cd 02 58 cd 01 f4 01 64 03 01 cd " "30 d4 28 01 91 a2 77 31", "status.rows[] must be an array"},
      // 47 to 49: attempts of another length than the ids, an attempt 0.
      {"98 02 03 07 a1 6b 92 01 02 92 a1 78 a1 79 90 91 02", "tasks.attempts has 1 entries, expected 2"},
      {"98 02 03 07 a1 6b 91 01 91 a1 78 90 91 00", "tasks.attempts[] is 0"},
      {"95 02 0d 07 92 04 09 91 02", "retry.attempts has 1 entries, expected 2"},
      // 57 to 59: a halt with both a count and a share, one of an unknown
      // `when`, a halt message without its reason.
      {"9a 02 05 07 a1 6b c0 a0 c2 00 00 94 01 01 01 64", "exactly one of count and basis_points"},
      {"9a 02 05 07 a1 6b c0 a0 c2 00 00 94 03 01 01 00", "job.halt.when must be 1 (soon) or 2 (now)"},
      {"94 02 0e 07 c2", "halt needs 3 fields"},
      {"9d 02 05 07 a1 6b c0 a0 c2 00 00 c0 00 c2 ff", "job.window"},
      // 71 and 73: a reorder_buffer that is a str, a retried below 0.
      {"97 02 06 07 cd 03 e8 00 c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f a1 78", "job_accepted.reorder_buffer"},
      {"dc 00 11 02 0c 07 a6 73 71 75 61 72 65 a7 64 65 61 6c 69 6e 67 cd 03 e8 cd 02 58 cd 01 f4 01 64 03 01 cd "
       "30 d4 28 02 90 ff", "status.retried"},
      // 77 to 79: a bundle of 0 frames, of more frames than tasks; a bundle of 0.
      {"99 02 03 07 a6 73 71 75 61 72 65 93 01 02 03 93 01 02 03 91 93 01 03 c4 10 7a f7 73 97 71 fa 36 84 51 a3 42 "
       "be 8b 98 64 b1 93 01 01 01 00", "tasks.frames is 0"},
      {"99 02 03 07 a6 73 71 75 61 72 65 93 01 02 03 93 01 02 03 91 93 01 03 c4 10 7a f7 73 97 71 fa 36 84 51 a3 42 "
       "be 8b 98 64 b1 93 01 01 01 04", "tasks.frames is 4 for 3"},
      {"96 02 01 a2 77 31 08 91 a6 73 71 75 61 72 65 00", "hello.bundle is 0"},
  };
  return rejections;
}

const std::vector<Rejection>& other_rejections() {
  static const std::vector<Rejection> rejections = {
      // Not a frame at all.
      {"", "empty"},
      {"c1", "not msgpack"},
      {"01", "must be an array"},
      {"a1 78", "must be an array"},
      {"80", "must be an array"},
      {"81 01 02", "maps"},
      {"90", "at least"},
      {"91 01", "at least"},
      {"92 02 0a 92 01 0a", "trailing"},
      // The header.
      {"92 00 0a", "protocol version 0"},
      {"93 ff 02 03", "version must be"},
      {"93 a1 31 02 03", "version must be"},
      {"93 cf ff ff ff ff ff ff ff ff 02 03", "protocol version 18446744073709551615"},
      {"92 02 00", "unknown message type 0"},
      {"92 02 cc ff", "unknown message type 255"},
      {"93 02 a1 02 03", "message type must be"},
      {"93 02 ff 03", "message type must be"},
      // Fields missing.
      {"93 02 01 a1 77", "hello needs 2"},
      {"92 02 02", "credit needs 1"},
      {"95 02 03 07 a1 6b 90", "tasks needs 5"},
      {"96 02 04 07 a1 77 90 90", "results needs 6"},
      {"97 02 05 07 a1 6b c0 a0 c2", "job needs 6"},
      {"94 02 06 07 c0", "job_accepted needs 4"},
      {"93 02 07 07", "job_refused needs 2"},
      {"93 02 08 07", "ack needs 2"},
      {"93 02 09 07", "job_end needs 2"},
      {"94 02 0d 07 90", "retry needs 3"},
      // hello, credit.
      {"94 02 01 05 08", "hello.worker"},
      {"94 02 01 a1 77 ff", "hello.window"},
      {"94 02 01 a1 77 cf 00 00 00 01 00 00 00 00", "hello.window 4294967296 exceeds"},
      {"93 02 02 a1 33", "credit.batches"},
      {"93 02 02 ca 3f 80 00 00", "credit.batches"},
      {"93 02 02 c3", "credit.batches"},
      {"93 02 02 c0", "credit.batches"},
      {"93 02 02 cf 00 00 00 01 00 00 00 00", "credit.batches 4294967296 exceeds"},
      // tasks.
      {"97 02 03 ff a1 6b 90 90 90", "tasks.job"},
      {"97 02 03 c0 a1 6b 90 90 90", "tasks.job"},
      {"97 02 03 07 05 90 90 90", "tasks.kind"},
      {"97 02 03 07 a1 6b 01 90 90", "tasks.ids"},
      {"97 02 03 07 a1 6b 90 c0 90", "tasks.payloads"},
      {"97 02 03 07 a1 6b 91 a1 31 91 01 90", "tasks.ids[]"},
      {"97 02 03 07 a1 6b 91 ff 91 01 90", "tasks.ids[]"},
      {"97 02 03 07 a1 6b 92 01 02 91 01 90", "tasks.payloads has 1 entries, expected 2"},
      {"97 02 03 07 a1 6b 91 01 92 01 02 90", "tasks.payloads has 2 entries, expected 1"},
      {"97 02 03 07 a1 6b 91 01 90 90", "tasks.payloads has 0 entries, expected 1"},
      {"97 02 03 07 a1 6b 91 01 91 cb 00 00 00 00 00 00 00 00 90", "tasks.payloads[]"},
      {"97 02 03 07 a1 6b 91 01 91 c3 90", "tasks.payloads[]"},
      {"97 02 03 07 a1 6b 91 01 91 91 01 90", "tasks.payloads[]"},
      {"97 02 03 07 a1 6b 91 01 91 80 90", "tasks.payloads[]"},
      {"97 02 03 07 a1 6b 91 01 91 81 01 01 90", "maps"},
      {"97 02 03 07 a1 6b 91 01 91 d4 01 00 90", "extension"},
      {"97 02 03 07 a1 6b 91 01 91 cf ff ff ff ff ff ff ff ff 90", "exceeds 2^63-1"},
      // results.
      {"98 02 04 a1 37 a1 77 90 90 90 90", "results.job"},
      {"98 02 04 07 c0 90 90 90 90", "results.worker"},
      {"98 02 04 07 a1 77 c0 90 90 90", "results.ids"},
      {"98 02 04 07 a1 77 90 c0 90 90", "results.oks"},
      {"98 02 04 07 a1 77 90 90 c0 90", "results.values"},
      {"98 02 04 07 a1 77 91 01 90 91 05 90", "results.oks has 0 entries, expected 1"},
      {"98 02 04 07 a1 77 91 01 91 c3 90 90", "results.values has 0 entries, expected 1"},
      {"98 02 04 07 a1 77 90 91 c3 91 05 90", "results.oks has 1 entries, expected 0"},
      {"98 02 04 07 a1 77 91 01 91 01 91 05 90", "results.oks[]"},
      {"98 02 04 07 a1 77 91 ff 91 c3 91 05 90", "results.ids[]"},
      {"98 02 04 07 a1 77 91 01 91 c2 91 c0 90", "failed task"},
      {"98 02 04 07 a1 77 91 01 91 c2 91 ff 90", "failed task"},
      {"98 02 04 07 a1 77 91 01 91 c3 91 cf 80 00 00 00 00 00 00 00 90", "exceeds 2^63-1"},
      {"98 02 04 07 a1 77 91 01 91 c3 91 ca 00 00 00 00 90", "results.values[]"},
      // job, job_accepted, job_refused.
      {"98 02 05 a1 37 a1 6b c0 a0 c2 00", "job.job"},
      {"98 02 05 07 c2 c0 a0 c2 00", "job.kind"},
      {"98 02 05 07 a1 6b a1 31 a0 c2 00", "job.total"},
      {"98 02 05 07 a1 6b ff a0 c2 00", "job.total"},
      {"98 02 05 07 a1 6b c0 c0 c2 00", "job.fingerprint"},
      {"98 02 05 07 a1 6b c0 a0 00 00", "job.resume"},
      {"98 02 05 07 a1 6b c0 a0 c0 00", "job.resume"},
      {"98 02 05 07 a1 6b c0 a0 c2 c0", "job.acknowledged"},
      {"96 02 06 c0 c0 00 c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", "job_accepted.job"},
      {"96 02 06 07 c3 00 c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", "job_accepted.total"},
      {"96 02 06 07 c0 c0 c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", "job_accepted.completed"},
      {"94 02 07 c3 a0", "job_refused.job"},
      {"94 02 07 07 05", "job_refused.reason"},
      // ack, job_end.
      {"94 02 08 ff 90", "ack.job"},
      {"94 02 08 07 c0", "ack.ranges must be"},
      {"94 02 08 07 91 01", "ack.ranges[] must be an array"},
      {"94 02 08 07 91 90", "[first, last]"},
      {"94 02 08 07 91 91 01", "[first, last]"},
      {"94 02 08 07 91 93 01 02 03", "[first, last]"},
      {"94 02 08 07 91 92 ff 01", "ack.ranges[][0]"},
      {"94 02 08 07 91 92 01 a1 32", "ack.ranges[][1]"},
      {"94 02 08 07 92 92 01 01 92 03 02", "last < first"},
      {"94 02 09 a1 37 c3", "job_end.job"},
      {"94 02 09 07 01", "job_end.complete"},
      {"94 02 09 07 c0", "job_end.complete"},
      // Appended fields (--retries) and retry.
      {"98 02 03 07 a1 6b 91 01 91 a1 78 90 c0", "tasks.attempts must be an array"},
      {"98 02 03 07 a1 6b 91 01 91 a1 78 90 91 a1 32", "tasks.attempts"},
      {"98 02 03 07 a1 6b 91 01 91 a1 78 90 91 cf 00 00 00 01 00 00 00 00", "exceeds 2^32-1"},
      {"99 02 04 07 a1 77 91 01 91 c2 91 a1 78 90 90", "results.attempts has 0 entries, expected 1"},
      {"99 02 04 07 a1 77 91 01 91 c2 91 a1 78 90 91 00", "results.attempts[] is 0"},
      {"99 02 05 07 a1 6b c0 a0 c2 00 c0", "job.retries"},
      {"99 02 05 07 a1 6b c0 a0 c2 00 cf 00 00 00 01 00 00 00 00", "job.retries 4294967296 exceeds"},
      {"95 02 0d 07 c0 90", "retry.ids"},
      {"95 02 0d 07 91 a1 31 91 01", "retry.ids[]"},
      {"95 02 0d 07 90 c0", "retry.attempts"},
      // Sizes declared far beyond the frame or the limits.
      {"96 02 03 07 a1 6b dd ff ff ff ff", "longer than 65536"},
      {"dc ff ff", "truncated"},
      {"db ff ff ff ff", ""},
      {"c6 ff ff ff ff", ""},
      {"df ff ff ff ff", "maps"},
      {"c9 ff ff ff ff 01", ""},
      // Maps and extension types, even where a field would be ignored.
      {"94 02 02 00 81 01 01", "maps"},
      {"94 02 02 00 d4 01 00", "extension"},
      {"94 02 02 00 c7 00 01", "extension"},
  };
  return rejections;
}

std::vector<Rejection> all_rejections() {
  std::vector<Rejection> all = spec_rejections();
  all.insert(all.end(), other_rejections().begin(), other_rejections().end());
  return all;
}

// Messages at the edges of what each field holds.
std::vector<Message> edge_messages() {
  return {
      Hello{"", 0},
      Hello{"w", uint32_max},
      Hello{std::string("nul\0inside", 10), 4096},
      Hello{text(300), 1},
      Hello{"w", 2, std::vector<std::string>{"square", "", text(300)}},
      Credit{0},
      Credit{1},
      Credit{uint32_max},
      TaskBatch{0, "", {}},
      TaskBatch{uint64_max, text(40, 'k'), {}},
      TaskBatch{1,
                "k",
                {{1, Value{}},
                 {2, 0},
                 {3, -1},
                 {4, int64_min},
                 {5, int64_max},
                 {6, ""},
                 {7, "text"},
                 {8, text(70000)},
                 {uint64_max, std::string("\xff\x00", 2)}}},
      ResultBatch{0, "", {}},
      ResultBatch{1,
                  "w",
                  {{1, true, Value{}},
                   {2, true, -5},
                   {3, true, int64_min},
                   {4, true, int64_max},
                   {5, true, ""},
                   {6, false, ""},
                   {7, false, "boom"},
                   {uint64_max, false, text(300)}}},
      JobManifest{0, "", std::nullopt, "", false, 0},
      JobManifest{uint64_max, "square", 0, "fnv1a64:0000000000000000:0", true, uint64_max},
      JobManifest{1, "k", uint64_max, "", false, 1},
      JobManifest{1, "k", 5, "", false, 0, uint32_max},
      TaskBatch{1, "k", {{1, 0}, {2, 0}}, {}, {1, uint32_max}},
      ResultBatch{1, "w", {{1, false, "x", uint32_max}, {uint64_max, true, 0, 1}}},
      Retry{0, {}, {}},
      Halt{0, false, ""},
      Halt{uint64_max, true, std::string(1000, 'r')},
      JobManifest{1, "k", std::nullopt, "", false, 0, 0, {HaltPolicy::When::now, HaltPolicy::On::fail, uint64_max, 0}},
      JobManifest{1, "k", 5, "f", true, 1, 0, {HaltPolicy::When::soon, HaltPolicy::On::success, 0, 10000}, uint64_max},
      JobManifest{1, "k", 5, "f", true, 1, 0, {}, 0, true},
      JobManifest{1, "k", 5, "f", true, 1, 0, {}, 0, false, 1},
      JobManifest{1, "k", 5, "f", true, 1, 0, {}, 0, false, uint64_max},
      Retry{uint64_max, {1, uint64_max}, {1, uint32_max}},
      JobAccepted{0, std::nullopt, 0},
      JobAccepted{1, 0, 0},
      JobAccepted{uint64_max, uint64_max, uint64_max},
      JobRefused{0, ""},
      JobRefused{1, text(1000)},
      Ack{0, {}},
      Ack{1, {{1, 1}}},
      Ack{1, {{1, 2}, {4, uint64_max}, {0, 0}, {uint64_max, uint64_max}}},
      JobEnd{0, true},
      JobEnd{uint64_max, false},
      HelloAgain{},
      StatusRequest{},
      status_vector(),
      Status{uint64_max, text(300), "", uint64_max, uint64_max, uint64_max, uint64_max, uint64_max, uint64_max,
             uint64_max, uint64_max, uint64_max, uint64_max, {{text(64), text(64), uint64_max, uint64_max, uint64_max}}},
  };
}

// A tasks frame of `count` tasks with nil payloads.
TaskBatch tasks_of(std::size_t count) {
  TaskBatch batch{1, "k", {}};
  for (std::size_t i = 1; i <= count; ++i) batch.tasks.push_back(Task{i, Value{}});
  return batch;
}

// `frame` with one more field appended: `extra`, already encoded.
std::string with_extra_field(std::string frame, std::string_view extra) {
  const auto head = static_cast<unsigned char>(frame.at(0));
  if (head == 0xdc) {  // array16: a big-endian count in bytes 1 and 2
    const unsigned count = static_cast<unsigned char>(frame.at(1)) << 8 | static_cast<unsigned char>(frame.at(2));
    REQUIRE(count < 0xffff);
    frame[1] = static_cast<char>((count + 1) >> 8);
    frame[2] = static_cast<char>((count + 1) & 0xff);
  } else {
    REQUIRE(head >= 0x92);
    REQUIRE(head < 0x9f);
    frame[0] = static_cast<char>(head + 1);
  }
  frame.append(extra);
  return frame;
}

std::optional<std::string> read_protocol_md() {
  const std::string here = __FILE__;
  const auto slash = here.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : here.substr(0, slash);
  std::ifstream file(dir + "/../shared/PROTOCOL.md");
  if (!file) return std::nullopt;
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace

// ---- the test vectors -----------------------------------------------------

TEST_CASE("each canonical test vector encodes to its bytes and decodes to its message") {
  const auto vector = GENERATE(from_range(canonical_vectors()));
  CAPTURE(vector.hex);
  CHECK(hex(zpipe::encode(vector.message)) == vector.hex);
  CHECK(zpipe::decode(bytes(vector.hex)) == vector.message);
}

TEST_CASE("frames the encoder never writes still decode when they are valid") {
  const auto vector = GENERATE(from_range(decode_only_vectors()));
  CAPTURE(vector.hex);
  CHECK(zpipe::decode(bytes(vector.hex)) == vector.message);
}

TEST_CASE("the test vectors here are those of PROTOCOL.md") {
  const auto spec = read_protocol_md();
  REQUIRE(spec.has_value());
  const auto section = spec->find(". Test vectors\n");
  REQUIRE(section != std::string::npos);
  const std::string vectors_section = spec->substr(section);

  std::set<std::string, std::less<>> ours;
  for (const auto& vector : canonical_vectors()) ours.emplace(vector.hex);
  for (std::size_t i = 0; i < 2; ++i) ours.emplace(decode_only_vectors()[i].hex);  // 17, 18
  const std::size_t decode_only = decode_only_vectors().size();
  for (std::size_t i = decode_only - 4; i < decode_only; ++i) ours.emplace(decode_only_vectors()[i].hex);  // 28, 32, 46, 60
  for (const auto& rejected : spec_rejections()) ours.emplace(rejected.hex);
  for (const auto& hex_text : ours) {
    CAPTURE(hex_text);
    CHECK(vectors_section.find("`" + hex_text + "`") != std::string::npos);
  }
  // ...and the spec lists no vector that is not checked here.
  const std::regex quoted_hex("`([0-9a-f]{2}(?: [0-9a-f]{2})*)`");
  std::size_t listed = 0;
  for (auto it = std::sregex_iterator(vectors_section.begin(), vectors_section.end(), quoted_hex);
       it != std::sregex_iterator(); ++it) {
    ++listed;
    CAPTURE((*it)[1].str());
    CHECK(ours.count((*it)[1].str()) == 1);
  }
  CHECK(listed == ours.size());
}

// ---- round trips ----------------------------------------------------------

TEST_CASE("every message survives a round trip, edge values included") {
  const auto message = GENERATE(from_range(edge_messages()));
  const std::string frame = zpipe::encode(message);
  const Message decoded = zpipe::decode(frame);
  CHECK(decoded == message);
  CHECK(zpipe::message_name(decoded) == zpipe::message_name(message));
  CHECK(zpipe::encode(decoded) == frame);
  const auto as_bytes = std::as_bytes(std::span(frame.data(), frame.size()));
  CHECK(zpipe::decode(as_bytes) == message);
}

TEST_CASE("the batch encoders write what the message encoder writes, into a reused buffer") {
  std::string out = "left over from an earlier frame, longer than the next one";
  const TaskBatch tasks{7, "square", {{1, 5}, {2, "x"}}};
  zpipe::encode(tasks, out);
  CHECK(out == zpipe::encode(Message{tasks}));
  const ResultBatch results{7, "w1", {{1, true, 25}, {2, false, "overflow"}}};
  zpipe::encode(results, out);
  CHECK(out == zpipe::encode(Message{results}));
  zpipe::encode(Message{Credit{3}}, out);
  CHECK(hex(out) == "93 02 02 03");
}

TEST_CASE("extra trailing fields are ignored in every message") {
  auto vector = GENERATE(from_range(canonical_vectors()));
  // A hello's fifth field is kinds, its sixth bundle: extras come after
  // them, bundle written as 1.
  std::string hex_text(vector.hex);
  if (const auto* hello = std::get_if<Hello>(&vector.message); hello && !hello->kinds) {
    vector.message = Hello{hello->worker, hello->window, std::vector<std::string>{}};
    hex_text = hex(zpipe::encode(vector.message));
    vector.hex = hex_text;
  }
  // So are the attempts and frames of tasks, the attempts of results and a
  // job's retries (--retries): written here as 1s and 0, as the encoder
  // never writes them.
  std::string base = bytes(vector.hex);
  const auto ones = [](std::size_t count) {
    REQUIRE(count < 16);
    return std::string(1, static_cast<char>(0x90 + count)) + std::string(count, '\x01');
  };
  if (const auto* hello = std::get_if<Hello>(&vector.message); hello && hello->bundle == 1) {
    base = with_extra_field(base, bytes("01"));
  } else if (const auto* tasks = std::get_if<TaskBatch>(&vector.message); tasks && tasks->frames == 1) {
    if (tasks->attempts.empty()) base = with_extra_field(base, ones(tasks->tasks.size()));
    base = with_extra_field(base, bytes("01"));
  } else if (const auto* results = std::get_if<ResultBatch>(&vector.message);
             results && std::all_of(results->results.begin(), results->results.end(),
                                    [](const Result& result) { return result.attempt == 1; })) {
    base = with_extra_field(base, ones(results->results.size()));
  } else if (std::holds_alternative<JobManifest>(vector.message)) {
    // retries, halt, resume_token, resume_failed, window: those left out, as defaults.
    const char* defaults[] = {"00", "c0", "00", "c2", "00"};
    for (auto fields = static_cast<std::size_t>(static_cast<unsigned char>(base[0]) & 0x0f) - 2; fields < 11; ++fields)
      base = with_extra_field(base, bytes(defaults[fields - 6]));
  } else if (const auto* accepted = std::get_if<JobAccepted>(&vector.message);
             accepted && accepted->reorder_buffer == 0) {  // --keep-order's, written here as 0
    base = with_extra_field(base, bytes("00"));
  } else if (const auto* status = std::get_if<Status>(&vector.message); status && status->retried == 0) {
    base = with_extra_field(base, bytes("00"));
  }
  const auto extra = GENERATE(as<std::string_view>{}, "c0", "c3", "05", "ff", "a1 7a", "c4 01 7a", "90", "92 02 02",
                              "91 91 01", "ca 3f 80 00 00");
  CAPTURE(vector.hex, extra);
  const std::string frame = with_extra_field(base, bytes(extra));
  CHECK(zpipe::decode(frame) == vector.message);
  const std::string two_more = with_extra_field(with_extra_field(base, bytes(extra)), bytes("c0"));
  CHECK(zpipe::decode(two_more) == vector.message);
}

TEST_CASE("message names are the protocol's") {
  const auto [message, name] = GENERATE(table<Message, std::string_view>({
      {Hello{}, "hello"},
      {Credit{}, "credit"},
      {TaskBatch{}, "tasks"},
      {ResultBatch{}, "results"},
      {JobManifest{}, "job"},
      {JobAccepted{}, "job_accepted"},
      {JobRefused{}, "job_refused"},
      {Ack{}, "ack"},
      {JobEnd{}, "job_end"},
      {HelloAgain{}, "hello_again"},
      {StatusRequest{}, "status_request"},
      {Status{}, "status"},
      {Retry{}, "retry"},
      {Halt{}, "halt"},
  }));
  CHECK(zpipe::message_name(message) == name);
}

// ---- bad frames -----------------------------------------------------------

TEST_CASE("frames that break the protocol are rejected with a codec_error that says why") {
  const auto rejected = GENERATE(from_range(all_rejections()));
  CAPTURE(rejected.hex);
  const std::string frame = bytes(rejected.hex);
  REQUIRE_THROWS_AS(zpipe::decode(frame), codec_error);
  CHECK_THAT(rejection(frame), Contains(std::string(rejected.reason)));
}

TEST_CASE("every proper prefix of a valid frame is rejected") {
  const auto vector = GENERATE(from_range(canonical_vectors()));
  const std::string frame = bytes(vector.hex);
  for (std::size_t size = 0; size < frame.size(); ++size) {
    CAPTURE(vector.hex, size);
    REQUIRE_THROWS_AS(zpipe::decode(std::string_view(frame).substr(0, size)), codec_error);
  }
}

TEST_CASE("huge declared sizes are rejected at once, before anything is allocated for them") {
  const auto declared = GENERATE(as<std::string_view>{}, "dd ff ff ff ff", "96 02 03 07 a1 6b dd ff ff ff ff 90",
                                 "94 02 08 07 dd ff ff ff ff", "dd 00 01 00 01 02 02");
  CAPTURE(declared);
  const std::string frame = bytes(declared);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 1000; ++i) REQUIRE_THROWS_AS(zpipe::decode(frame), codec_error);
  // Allocating what they declare (up to 2^32 objects) could not be this fast.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
  CHECK_THAT(rejection(frame), Contains("longer than 65536"));
}

TEST_CASE("hostile bytes end in a message or a codec_error, never anything else") {
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  const auto decode_any = [&](std::string_view frame) {
    try {
      (void)zpipe::decode(frame);
      ++accepted;
    } catch (const codec_error&) {
      ++rejected;
    }
  };
  SECTION("every byte of every vector replaced by every value") {
    std::size_t tried = 0;
    for (const auto& vector : canonical_vectors()) {
      std::string frame = bytes(vector.hex);
      for (std::size_t at = 0; at < frame.size(); ++at) {
        const char original = frame[at];
        for (int value = 0; value < 256; ++value) {
          frame[at] = static_cast<char>(value);
          decode_any(frame);
          ++tried;
        }
        frame[at] = original;
      }
    }
    CHECK(accepted + rejected == tried);
    CHECK(rejected > 0);
  }
  SECTION("random frames, most of them starting like a real header") {
    std::mt19937 random(20240501);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> length(0, 48);
    for (int i = 0; i < 50000; ++i) {
      std::string frame(length(random), '\0');
      for (auto& c : frame) c = static_cast<char>(byte(random));
      if (frame.size() >= 3 && i % 4 != 0) {
        frame[0] = static_cast<char>(0x92 + byte(random) % 8);
        frame[1] = 0x01;
        frame[2] = static_cast<char>(1 + byte(random) % 10);
      }
      decode_any(frame);
    }
    CHECK(accepted + rejected == 50000);
  }
}

TEST_CASE("decode reads tasks and results frames directly, with the generic decoder's message or error for any frame") {
  // What a decoder makes of a frame: the message, or its error's text.
  const auto outcome = [](auto&& decoder, std::string_view frame) -> std::variant<Message, std::string> {
    try {
      return decoder(frame);
    } catch (const codec_error& e) {
      return std::string(e.what());
    }
  };
  const auto direct = [](std::string_view frame) { return zpipe::decode(frame); };
  const auto generic = [](std::string_view frame) { return zpipe::decode_generic(frame); };
  std::size_t read_directly = 0, read_as_columns = 0, compared = 0;
  zpipe::IntegerTasks columns;
  const auto compare = [&](std::string_view frame) {
    read_directly += zpipe::detail::decode_direct(frame, {}).has_value() ? 1 : 0;
    ++compared;
    const auto decoded = outcome(direct, frame);
    REQUIRE(decoded == outcome(generic, frame));
    // The kind read from a tasks frame's head is the one decode() reads.
    if (const auto* message = std::get_if<Message>(&decoded))
      if (const auto* tasks = std::get_if<TaskBatch>(message)) REQUIRE(zpipe::peek_tasks_kind(frame) == tasks->kind);
    // A frame the worker reads as columns (integer payloads) holds the tasks decode() reads.
    if (!zpipe::decode_integer_tasks(frame, columns)) return;
    ++read_as_columns;
    const auto* message = std::get_if<Message>(&decoded);
    const auto* tasks = message != nullptr ? std::get_if<TaskBatch>(message) : nullptr;
    REQUIRE(tasks != nullptr);
    CHECK(tasks->job == columns.job);
    CHECK(tasks->kind == columns.kind);
    CHECK(tasks->leases == columns.leases);
    CHECK(tasks->attempts == columns.attempts);
    CHECK(tasks->frames == columns.frames);
    REQUIRE(tasks->tasks.size() == columns.ids.size());
    for (std::size_t i = 0; i < columns.ids.size(); ++i) {
      CHECK(tasks->tasks[i].id == columns.ids[i]);
      CHECK(tasks->tasks[i].payload == zpipe::Value{columns.payloads[i]});
    }
  };
  std::vector<std::string> frames;
  for (const auto& vector : canonical_vectors()) {
    const auto type = zpipe::peek_type(bytes(vector.hex));
    if (type == zpipe::MessageType::tasks || type == zpipe::MessageType::results) frames.push_back(bytes(vector.hex));
  }
  REQUIRE(frames.size() >= 8);
  for (const std::string& vector : frames) {
    compare(vector);
    std::string frame = vector;
    for (std::size_t at = 0; at < frame.size(); ++at) {
      const char original = frame[at];
      for (int value = 0; value < 256; ++value) {
        frame[at] = static_cast<char>(value);
        compare(frame);
      }
      frame[at] = original;
      compare(std::string_view(vector).substr(0, at));
    }
  }
  // Mixed-width integers, negative payloads, strings as bin, nil and 16-bit arrays.
  compare(bytes("98 02 03 cf 00 00 00 00 00 00 00 07 d9 01 78 dc 00 03 d0 01 d1 00 02 cc 03 93 e0 c4 01 7a c0 90 93 01 01 02"));
  compare(bytes("99 02 04 07 c4 02 77 31 92 01 02 92 c3 c2 92 d3 ff ff ff ff ff ff ff ff a1 65 90 92 01 02"));
  compare(bytes("99 02 04 07 a2 77 31 91 01 91 c3 91 cf 80 00 00 00 00 00 00 00 90 91 01"));  // over 2^63-1
  // Random flips of the vectors' bytes, one to three at a time.
  std::mt19937 random(20261207);
  std::uniform_int_distribution<int> byte(0, 255);
  for (const std::string& vector : frames)
    for (int i = 0; i < 2000; ++i) {
      std::string frame = vector;
      for (int flips = 1 + byte(random) % 3; flips > 0; --flips)
        frame[static_cast<std::size_t>(byte(random)) % frame.size()] = static_cast<char>(byte(random));
      compare(frame);
    }
  INFO(compared << " frames compared");
  CHECK(read_directly > frames.size());  // the direct reader took the vectors, and more
  CHECK(read_as_columns > 100);          // the integer tasks frames, and many of their flips
}

TEST_CASE("decode_into gives what decode gives, whatever message it reuses held before") {
  // Every vector after every other (attempts then none, a bundle then a
  // single frame, long then short), and after an encode of each decoded one.
  std::vector<std::string> frames;
  for (const auto& vector : canonical_vectors()) frames.push_back(bytes(vector.hex));
  for (const std::string& before : frames)
    for (const std::string& frame : frames) {
      Message message = zpipe::decode(before);
      zpipe::decode_into(frame, message);
      REQUIRE(message == zpipe::decode(frame));
    }
  // A bad frame is refused as decode refuses it.
  Message message = zpipe::decode(frames.front());
  CHECK_THROWS_AS(zpipe::decode_into(std::string_view(frames.front()).substr(0, 3), message), codec_error);
}

TEST_CASE("a failed result must carry its error message") {
  const Value value = GENERATE(Value{}, Value{0}, Value{-1});
  // Encoding does not police this; decoding does.
  const std::string frame = zpipe::encode(ResultBatch{1, "w", {{1, false, value}}});
  REQUIRE_THROWS_AS(zpipe::decode(frame), codec_error);
  CHECK(zpipe::decode(zpipe::encode(ResultBatch{1, "w", {{1, true, value}}})) ==
        Message{ResultBatch{1, "w", {{1, true, value}}}});
}

TEST_CASE("an ack range must not end before it starts") {
  const auto [first, last, valid] = GENERATE(table<std::uint64_t, std::uint64_t, bool>({
      {1, 1, true},
      {1, 2, true},
      {2, 1, false},
      {uint64_max, uint64_max, true},
      {uint64_max, uint64_max - 1, false},
      {1, 0, false},
  }));
  CAPTURE(first, last);
  const std::string frame = zpipe::encode(Ack{1, {{first, last}}});
  if (valid) CHECK(zpipe::decode(frame) == Message{Ack{1, {{first, last}}}});
  else REQUIRE_THROWS_AS(zpipe::decode(frame), codec_error);
}

// ---- limits ---------------------------------------------------------------

TEST_CASE("elements per array: the limit is accepted, one more is not") {
  const std::size_t limit = DecodeLimits{}.max_items;
  REQUIRE(limit == 65536);
  SECTION("tasks") {
    CHECK(rejection(zpipe::encode(tasks_of(limit))).empty());
    REQUIRE_THROWS_AS(zpipe::decode(zpipe::encode(tasks_of(limit + 1))), codec_error);
    CHECK_THAT(rejection(zpipe::encode(tasks_of(limit + 1))), Contains("longer than 65536"));
  }
  SECTION("results") {
    ResultBatch batch{1, "w", {}};
    for (std::size_t i = 1; i <= limit; ++i) batch.results.push_back(Result{i, true, Value{}});
    CHECK(rejection(zpipe::encode(batch)).empty());
    batch.results.push_back(Result{limit + 1, true, Value{}});
    REQUIRE_THROWS_AS(zpipe::decode(zpipe::encode(batch)), codec_error);
  }
  SECTION("ack ranges") {
    Ack ack{1, {}};
    for (std::size_t i = 1; i <= limit; ++i) ack.ranges.emplace_back(2 * i, 2 * i);
    CHECK(rejection(zpipe::encode(ack)).empty());
    ack.ranges.emplace_back(1, 1);
    REQUIRE_THROWS_AS(zpipe::decode(zpipe::encode(ack)), codec_error);
  }
  SECTION("a limit of our own") {
    DecodeLimits limits;
    limits.max_items = 10;
    CHECK(rejection(zpipe::encode(tasks_of(10)), limits).empty());
    REQUIRE_THROWS_AS(zpipe::decode(zpipe::encode(tasks_of(11)), limits), codec_error);
    CHECK_THAT(rejection(zpipe::encode(tasks_of(11)), limits), Contains("longer than 10"));
  }
}

TEST_CASE("bytes per string: the limit is accepted, one more is not") {
  const std::size_t limit = DecodeLimits{}.max_string_bytes;
  REQUIRE(limit == mib);
  const auto [what, frame_of] = GENERATE(table<std::string_view, std::string (*)(std::size_t)>({
      {"a payload", [](std::size_t n) { return zpipe::encode(TaskBatch{1, "k", {{1, text(n)}}}); }},
      {"a result", [](std::size_t n) { return zpipe::encode(ResultBatch{1, "w", {{1, false, text(n)}}}); }},
      {"a worker name", [](std::size_t n) { return zpipe::encode(Hello{text(n), 1}); }},
      {"a kind", [](std::size_t n) { return zpipe::encode(JobManifest{1, text(n), std::nullopt, "", false, 0}); }},
      {"a reason", [](std::size_t n) { return zpipe::encode(JobRefused{1, text(n)}); }},
      {"a bin payload",
       [](std::size_t n) {
         std::string frame = bytes("97 02 03 07 a1 6b 91 01 91 c6");
         for (const int shift : {24, 16, 8, 0}) frame.push_back(static_cast<char>((n >> shift) & 0xff));
         return frame + text(n) + bytes("90");
       }},
  }));
  CAPTURE(what);
  CHECK(rejection(frame_of(limit)).empty());
  REQUIRE_THROWS_AS(zpipe::decode(frame_of(limit + 1)), codec_error);
  CHECK_THAT(rejection(frame_of(limit + 1)), Contains("longer than 1048576"));

  DecodeLimits limits;
  limits.max_string_bytes = 4;
  CHECK(rejection(frame_of(4), limits).empty());
  REQUIRE_THROWS_AS(zpipe::decode(frame_of(5), limits), codec_error);
}

TEST_CASE("frame size: the limit is accepted, one byte more is not") {
  SECTION("the protocol's 16 MiB") {
    const std::size_t limit = DecodeLimits{}.max_frame_bytes;
    REQUIRE(limit == 16 * mib);
    // Sixteen payloads of about 1 MiB, the last one sized to fill the frame exactly.
    TaskBatch batch{1, "k", {}};
    for (std::uint64_t id = 1; id <= 16; ++id) batch.tasks.push_back(Task{id, text(mib)});
    const std::size_t over = zpipe::encode(batch).size() - limit;
    batch.tasks.back().payload = text(mib - over);
    std::string frame = zpipe::encode(batch);
    REQUIRE(frame.size() == limit);
    CHECK(zpipe::decode(frame) == Message{batch});
    batch.tasks.back().payload = text(mib - over + 1);
    frame = zpipe::encode(batch);
    REQUIRE(frame.size() == limit + 1);
    REQUIRE_THROWS_AS(zpipe::decode(frame), codec_error);
    CHECK_THAT(rejection(frame), Contains("exceeds the limit of 16777216"));
  }
  SECTION("a limit of our own") {
    const auto vector = GENERATE(from_range(canonical_vectors()));
    const std::string frame = bytes(vector.hex);
    DecodeLimits limits;
    limits.max_frame_bytes = frame.size();
    CHECK(zpipe::decode(frame, limits) == vector.message);
    limits.max_frame_bytes = frame.size() - 1;
    REQUIRE_THROWS_AS(zpipe::decode(frame, limits), codec_error);
  }
}

TEST_CASE("nesting depth: 3 is accepted, 4 is not, even in a field that would be ignored") {
  CHECK(rejection(bytes("94 02 02 00 91 90")).empty());
  CHECK(rejection(bytes("94 02 02 00 91 91 01")).empty());
  REQUIRE_THROWS_AS(zpipe::decode(bytes("94 02 02 00 91 91 90")), codec_error);
  CHECK_THAT(rejection(bytes("94 02 02 00 91 91 91 01")), Contains("deeper than 3"));
  REQUIRE_THROWS_AS(zpipe::decode(bytes("94 02 08 07 91 92 91 01 02")), codec_error);
}

TEST_CASE("integers: a payload above 2^63-1 is rejected, every int64 is not") {
  const auto [encoded, valid] = GENERATE(table<std::string_view, bool>({
      {"cf 7f ff ff ff ff ff ff ff", true},
      {"cf 80 00 00 00 00 00 00 00", false},
      {"cf ff ff ff ff ff ff ff ff", false},
      {"d3 80 00 00 00 00 00 00 00", true},
      {"d3 7f ff ff ff ff ff ff ff", true},
  }));
  CAPTURE(encoded);
  const std::string task = bytes("97 02 03 07 a1 6b 91 01 91") + bytes(encoded) + bytes("90");
  const std::string result = bytes("98 02 04 07 a1 77 91 01 91 c3 91") + bytes(encoded) + bytes("90");
  if (valid) {
    CHECK(rejection(task).empty());
    CHECK(rejection(result).empty());
  } else {
    REQUIRE_THROWS_AS(zpipe::decode(task), codec_error);
    REQUIRE_THROWS_AS(zpipe::decode(result), codec_error);
  }
}

// ---- peek_type ------------------------------------------------------------

TEST_CASE("peek_type of the headers it knows") {
  const auto [frame, expected] = GENERATE(table<std::string_view, std::optional<MessageType>>({
      {"93 02 02 03", MessageType::credit},
      {"92 02 0a", MessageType::hello_again},
      {"dc 00 03 02 02 03", MessageType::credit},
      {"96 02 03 ff", MessageType::tasks},  // a good header, a bad body: decoding still fails
      {"92 02 01", MessageType::hello},
      {"", std::nullopt},
      {"01", std::nullopt},
      {"80", std::nullopt},
      {"90", std::nullopt},
      {"91 01", std::nullopt},
      {"92 02", std::nullopt},
      {"dc 00 03 02", std::nullopt},
      {"93 01 02 03", std::nullopt},
      {"93 00 02 03", std::nullopt},
      {"92 02 00", std::nullopt},
      {"92 02 0b", MessageType::status_request},
      {"95 02 0d 07 90 90", MessageType::retry},
      {"95 02 0e 07 c2 a0", MessageType::halt},
      {"92 02 0f", std::nullopt},
      {"92 02 cc ff", std::nullopt},
      {"93 cc 01 02 03", std::nullopt},
      {"dd 00 00 00 03 02 02 03", std::nullopt},
      {"c1", std::nullopt},
  }));
  CAPTURE(frame);
  CHECK(zpipe::peek_type(bytes(frame)) == expected);
}

TEST_CASE("peek_type never claims a type that decoding contradicts") {
  const auto vector = GENERATE(from_range(canonical_vectors()));
  const Message message = zpipe::decode(bytes(vector.hex));
  const auto type = zpipe::peek_type(bytes(vector.hex));
  REQUIRE(type.has_value());
  CHECK(static_cast<std::size_t>(*type) == message.index() + 1);
}

// ---- values ---------------------------------------------------------------

TEST_CASE("as_integer takes integers and the text of integers") {
  const auto [value, expected] = GENERATE(table<Value, std::optional<std::int64_t>>({
      {Value{42}, 42},
      {Value{int64_min}, int64_min},
      {Value{int64_max}, int64_max},
      {Value{"42"}, 42},
      {Value{"-5"}, -5},
      {Value{"+7"}, 7},
      {Value{" 12\r"}, 12},
      {Value{"\t12\t"}, 12},
      {Value{"0"}, 0},
      {Value{"9223372036854775807"}, int64_max},
      {Value{"-9223372036854775808"}, int64_min},
      {Value{"9223372036854775808"}, std::nullopt},
      {Value{""}, std::nullopt},
      {Value{" "}, std::nullopt},
      {Value{"+"}, std::nullopt},
      {Value{"abc"}, std::nullopt},
      {Value{"4 2"}, std::nullopt},
      {Value{"42x"}, std::nullopt},
      {Value{"1.5"}, std::nullopt},
      {Value{}, std::nullopt},
  }));
  CAPTURE(zpipe::as_text(value));
  CHECK(zpipe::as_integer(value) == expected);
}

TEST_CASE("as_text spells every value") {
  const auto [value, expected] = GENERATE(table<Value, std::string>({
      {Value{}, ""},
      {Value{0}, "0"},
      {Value{-17}, "-17"},
      {Value{int64_min}, "-9223372036854775808"},
      {Value{int64_max}, "9223372036854775807"},
      {Value{""}, ""},
      {Value{"text"}, "text"},
      {Value{std::string("a\0b", 3)}, std::string("a\0b", 3)},
  }));
  CHECK(zpipe::as_text(value) == expected);
}

// ---- known codec bugs -----------------------------------------------------
TEST_CASE("a type number above 255 is unknown, not its low byte") {
  // [1, 257, "w1", 8] must not pass for a hello by way of 257 mod 256.
  REQUIRE_THROWS_AS(zpipe::decode(bytes("94 02 cd 01 01 a2 77 31 08")), codec_error);
  REQUIRE_THROWS_AS(zpipe::decode(bytes("93 02 cd 01 02 03")), codec_error);
}

TEST_CASE("an empty map is rejected even in a field that would be ignored") {
  // msgpack's map limit of 0 pairs lets a map of 0 pairs through.
  REQUIRE_THROWS_AS(zpipe::decode(bytes("94 02 02 00 80")), codec_error);
}

TEST_CASE("a frame may hold at most 4 values per item plus 64, whatever its shape") {
  // max_items 10: at most 104 values. [2, 2, 0, [[0 x 10] x 9]] holds 104;
  // [2, 2, 0, [[0 x 9] x 10]] holds 105. msgpack would allocate an object
  // for each value, so the count is checked before it runs.
  const zpipe::DecodeLimits limits{16 * 1024 * 1024, 10, 1024};
  const auto frame = [](int arrays, int each) {
    std::string bytes("\x94\x02\x02\x00", 4);
    bytes.push_back(static_cast<char>(0x90 | arrays));
    for (int i = 0; i < arrays; ++i) {
      bytes.push_back(static_cast<char>(0x90 | each));
      bytes.append(static_cast<std::size_t>(each), '\0');
    }
    return bytes;
  };
  CHECK(zpipe::decode(frame(9, 10), limits) == zpipe::Message{zpipe::Credit{0}});
  CHECK_THROWS_WITH(zpipe::decode(frame(10, 9), limits), Catch::Contains("more values than any message may"));
}

TEST_CASE("a 16 MiB frame of one-byte values is refused before it is unpacked") {
  // [1, 2, 0, [[0 x 65535] x 255]]: 16.7 million values, about 400 MB of
  // msgpack objects had it been unpacked.
  std::string bytes("\x94\x01\x02\x00\xdc\x00\xff", 7);
  for (int i = 0; i < 255; ++i) {
    bytes.append("\xdc\xff\xff", 3);
    bytes.append(65535, '\0');
  }
  REQUIRE(bytes.size() < zpipe::DecodeLimits{}.max_frame_bytes);
  CHECK_THROWS_WITH(zpipe::decode(bytes), Catch::Contains("more values than any message may"));
}
