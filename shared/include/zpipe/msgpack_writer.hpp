// msgpack written in its smallest forms (PROTOCOL.md §2), appended to a
// caller's string: the forms msgpack-c's packer chooses, byte for byte, at a
// fraction of its cost. msgpack-c appends every piece through a stream call
// (a memmove for each integer); this writer grows the string a chunk at a
// time and stores each piece in place, which matters where a frame holds
// thousands of small integers (tasks and results frames).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace zpipe {

class MsgpackWriter {
 public:
  /// Appends to `out`, which is left exactly as long as what was written
  /// once the writer is gone (or finish() is called).
  explicit MsgpackWriter(std::string& out) : out_(out), used_(out.size()) {}
  ~MsgpackWriter() { finish(); }
  MsgpackWriter(const MsgpackWriter&) = delete;
  MsgpackWriter& operator=(const MsgpackWriter&) = delete;

  /// Cuts the string to what was written; the writer may go on after it.
  void finish() { out_.resize(used_); }

  void pack_nil() { put(0xc0); }
  void pack_true() { put(0xc3); }
  void pack_false() { put(0xc2); }
  void pack_bool(bool flag) { put(flag ? 0xc3 : 0xc2); }

  void pack_uint8(std::uint8_t number) { pack_uint64(number); }
  void pack_uint32(std::uint32_t number) { pack_uint64(number); }
  void pack_uint64(std::uint64_t number) { advance_to(put_uint64(room(9), number)); }
  void pack_int64(std::int64_t number) { advance_to(put_int64(room(9), number)); }

  /// For a loop that packs many integers: room() makes room for at most
  /// `bytes` at once, put_uint64/put_int64 store each at a cursor kept in a
  /// local, and advance_to() takes the cursor back. Each pack_* call instead
  /// reloads the string and the count: a store through char* may alias them.
  char* room(std::size_t bytes) {
    if (used_ + bytes > out_.size()) out_.resize(used_ + std::max(bytes, chunk_bytes));
    return out_.data() + used_;
  }
  void advance_to(const char* end) { used_ = static_cast<std::size_t>(end - out_.data()); }

  /// Stores `number` at `at` in its smallest form (at most 9 bytes) and
  /// returns the end.
  static char* put_uint64(char* at, std::uint64_t number) {
    if (number < 0x80) {
      at[0] = static_cast<char>(number);
      return at + 1;
    }
    if (number <= 0xff) return store(at, 0xcc, number, 1);
    if (number <= 0xffff) return store(at, 0xcd, number, 2);
    if (number <= 0xffffffff) return store(at, 0xce, number, 4);
    return store(at, 0xcf, number, 8);
  }
  static char* put_int64(char* at, std::int64_t number) {
    if (number >= 0) return put_uint64(at, static_cast<std::uint64_t>(number));
    const auto bits = static_cast<std::uint64_t>(number);
    if (number >= -32) {
      at[0] = static_cast<char>(number);
      return at + 1;
    }
    if (number >= -128) return store(at, 0xd0, bits, 1);
    if (number >= -32768) return store(at, 0xd1, bits, 2);
    if (number >= -2147483648LL) return store(at, 0xd2, bits, 4);
    return store(at, 0xd3, bits, 8);
  }

  void pack_array(std::uint32_t count) { pack_length(count, 0x90, 16, 0, 0xdc, 0xdd); }
  void pack_str(std::uint32_t size) { pack_length(size, 0xa0, 32, 0xd9, 0xda, 0xdb); }
  void pack_str_body(const char* data, std::uint32_t size) { append(data, size); }
  void pack_string(std::string_view text) {
    pack_str(static_cast<std::uint32_t>(text.size()));
    append(text.data(), text.size());
  }

  void pack_bin(std::uint32_t size) { pack_length(size, 0, 0, 0xc4, 0xc5, 0xc6); }
  void pack_bin_body(const char* data, std::uint32_t size) { append(data, size); }
  void pack_bytes(std::string_view bytes) {
    pack_bin(static_cast<std::uint32_t>(bytes.size()));
    append(bytes.data(), bytes.size());
  }

 private:
  // Growing by a chunk, not by the piece, keeps resize() (which zero-fills
  // what it adds) off the per-integer path; finish() cuts the slack off.
  static constexpr std::size_t chunk_bytes = 256;

  void put(unsigned char byte) { *room(1) = static_cast<char>(byte); ++used_; }
  // An array's, string's or binary's length in its smallest form: in the
  // tag byte (fixed_tag | size) below fixed_limit, else after tag8, tag16 or
  // tag32 (a type without an 8-bit form passes 0 for tag8).
  void pack_length(std::uint32_t size, unsigned char fixed_tag, std::uint32_t fixed_limit, unsigned char tag8,
                   unsigned char tag16, unsigned char tag32) {
    char* at = room(5);
    if (size < fixed_limit) {
      at[0] = static_cast<char>(fixed_tag | size);
      advance_to(at + 1);
    } else if (size <= 0xff && tag8 != 0) {
      advance_to(store(at, tag8, size, 1));
    } else if (size <= 0xffff) {
      advance_to(store(at, tag16, size, 2));
    } else {
      advance_to(store(at, tag32, size, 4));
    }
  }
  void append(const char* data, std::size_t size) {
    if (size == 0) return;
    std::memcpy(room(size), data, size);
    used_ += size;
  }
  // The tag, then the number's low `bytes` bytes, big-endian, each width
  // one store; returns the end.
  static char* store(char* at, unsigned char tag, std::uint64_t number, int bytes) {
    at[0] = static_cast<char>(tag);
    if (bytes == 1) {
      at[1] = static_cast<char>(number);
    } else if (bytes == 2) {
      const auto word = __builtin_bswap16(static_cast<std::uint16_t>(number));
      std::memcpy(at + 1, &word, 2);
    } else if (bytes == 4) {
      const auto word = __builtin_bswap32(static_cast<std::uint32_t>(number));
      std::memcpy(at + 1, &word, 4);
    } else {
      const auto word = __builtin_bswap64(number);
      std::memcpy(at + 1, &word, 8);
    }
    return at + 1 + bytes;
  }

  std::string& out_;
  std::size_t used_;
};

}  // namespace zpipe
