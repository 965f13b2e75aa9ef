// The msgpack writer against msgpack-c's packer: the same bytes at every
// boundary between two forms, on both sides of it. The codec vectors pin the
// frames, but no vector sits on most of these edges.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include <msgpack.hpp>

#include "zpipe/msgpack_writer.hpp"

namespace {

template <class Write, class Pack>
void same_bytes(Write write, Pack pack) {
  std::string ours = "prefix";  // the writer appends: what was there stays
  {
    zpipe::MsgpackWriter writer(ours);
    write(writer);
  }
  msgpack::sbuffer theirs;
  msgpack::packer<msgpack::sbuffer> packer(theirs);
  pack(packer);
  REQUIRE(ours == "prefix" + std::string(theirs.data(), theirs.size()));
}

}  // namespace

TEST_CASE("the msgpack writer writes what msgpack-c writes, at every boundary of a form") {
  constexpr auto max64 = std::numeric_limits<std::uint64_t>::max();
  for (const std::uint64_t number : {std::uint64_t{0}, std::uint64_t{0x7f}, std::uint64_t{0x80}, std::uint64_t{0xff},
                                     std::uint64_t{0x100}, std::uint64_t{0xffff}, std::uint64_t{0x10000},
                                     std::uint64_t{0xffffffff}, std::uint64_t{0x100000000}, max64}) {
    CAPTURE(number);
    same_bytes([&](auto& w) { w.pack_uint64(number); }, [&](auto& p) { p.pack_uint64(number); });
    same_bytes([&](auto& w) { w.pack_int64(static_cast<std::int64_t>(number >> 1)); },
               [&](auto& p) { p.pack_int64(static_cast<std::int64_t>(number >> 1)); });
    if (number <= 0xffffffff) {
      const auto count = static_cast<std::uint32_t>(number);
      same_bytes([&](auto& w) { w.pack_uint32(count); }, [&](auto& p) { p.pack_uint32(count); });
    }
    if (number <= 0xff) {
      const auto small = static_cast<std::uint8_t>(number);
      same_bytes([&](auto& w) { w.pack_uint8(small); }, [&](auto& p) { p.pack_uint8(small); });
    }
  }
  for (const std::int64_t number : {std::int64_t{-1}, std::int64_t{-32}, std::int64_t{-33}, std::int64_t{-128},
                                    std::int64_t{-129}, std::int64_t{-32768}, std::int64_t{-32769},
                                    std::int64_t{-2147483648LL}, std::int64_t{-2147483649LL},
                                    std::numeric_limits<std::int64_t>::min()}) {
    CAPTURE(number);
    same_bytes([&](auto& w) { w.pack_int64(number); }, [&](auto& p) { p.pack_int64(number); });
  }
  for (const std::uint32_t count : {0u, 15u, 16u, 65535u, 65536u, 0xffffffffu}) {
    CAPTURE(count);
    same_bytes([&](auto& w) { w.pack_array(count); }, [&](auto& p) { p.pack_array(count); });
  }
  for (const std::uint32_t size : {0u, 1u, 31u, 32u, 255u, 256u, 65535u, 65536u}) {
    CAPTURE(size);
    const std::string text(size, 'x');
    same_bytes([&](auto& w) { w.pack_string(text); },
               [&](auto& p) {
                 p.pack_str(size);
                 p.pack_str_body(text.data(), size);
               });
    same_bytes([&](auto& w) { w.pack_bytes(text); },
               [&](auto& p) {
                 p.pack_bin(size);
                 p.pack_bin_body(text.data(), size);
               });
  }
  same_bytes(
      [](auto& w) {
        w.pack_nil();
        w.pack_true();
        w.pack_false();
        w.pack_bool(true);
      },
      [](auto& p) {
        p.pack_nil();
        p.pack_true();
        p.pack_false();
        p.pack_true();
      });
}

TEST_CASE("the msgpack writer leaves its string exactly as long as what it wrote, however much it grew") {
  std::string out;
  out.reserve(4);  // far too small: the writer grows it many times over
  {
    zpipe::MsgpackWriter writer(out);
    for (std::uint64_t i = 0; i < 10'000; ++i) writer.pack_uint64(i * 977);
  }
  msgpack::sbuffer theirs;
  msgpack::packer<msgpack::sbuffer> packer(theirs);
  for (std::uint64_t i = 0; i < 10'000; ++i) packer.pack_uint64(i * 977);
  REQUIRE(out == std::string(theirs.data(), theirs.size()));
}
