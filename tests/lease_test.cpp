// Task leases: the token vectors of PROTOCOL.md §6.5, one lease per run of
// consecutive ids, and the sink's check, which takes only ids under a lease
// whose token is right for the key that sent it.
#include <catch2/catch.hpp>

#include <string>

#include "zpipe/lease.hpp"

namespace {

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string text;
  for (const unsigned char byte : bytes) {
    if (!text.empty()) text += ' ';
    text += digits[byte >> 4];
    text += digits[byte & 15];
  }
  return text;
}

std::string_view view(const std::array<char, 16>& token) { return {token.data(), token.size()}; }

std::string counting(char first, int count) {
  std::string bytes;
  for (int i = 0; i < count; ++i) bytes += static_cast<char>(first + i);
  return bytes;
}

const std::string secret = counting(0, 16);   // 00 01 .. 0f
const std::string key = counting(0x20, 32);   // 20 21 .. 3f

}  // namespace

TEST_CASE("lease tokens are those of PROTOCOL.md") {
  CHECK(hex(view(zpipe::lease_token(secret, 7, 1, 3, key))) == "7a f7 73 97 71 fa 36 84 51 a3 42 be 8b 98 64 b1");
  CHECK(hex(view(zpipe::lease_token(secret, 7, 5, 5, key))) == "76 0e b2 20 4b 55 45 d9 01 8c e9 68 55 61 ac ac");
  CHECK(hex(view(zpipe::lease_token(secret, 7, 1, 3, ""))) == "a7 70 75 51 59 19 dd 61 52 f4 65 87 37 bf c1 7f");
}

TEST_CASE("a frame's tasks get one lease per run of consecutive ids") {
  std::vector<zpipe::Lease> leases;
  zpipe::sign_leases(secret, 7, {{1, 0}, {2, 0}, {3, 0}, {5, 0}, {9, 0}, {10, 0}}, key, leases);
  REQUIRE(leases.size() == 3);
  CHECK((leases[0].first == 1 && leases[0].last == 3));
  CHECK((leases[1].first == 5 && leases[1].last == 5));
  CHECK((leases[2].first == 9 && leases[2].last == 10));
  CHECK(leases[2].token == zpipe::lease_token(secret, 7, 9, 10, key));
}

TEST_CASE("the sink takes an id only under a lease signed for the key that sends it") {
  std::vector<zpipe::Lease> leases;
  zpipe::sign_leases(secret, 7, {{1, 0}, {2, 0}, {3, 0}, {8, 0}}, key, leases);
  const zpipe::LeasedRanges mine(secret, 7, leases, key);
  CHECK(mine.bad() == 0);
  for (const zpipe::TaskId id : {1, 2, 3, 8}) CHECK(mine.covers(id));
  for (const zpipe::TaskId id : {0, 4, 7, 9}) CHECK_FALSE(mine.covers(id));

  const std::string other_key = counting(0x40, 32);
  const zpipe::LeasedRanges stolen(secret, 7, leases, other_key);  // another worker's leases
  CHECK(stolen.bad() == 2);
  CHECK_FALSE(stolen.covers(1));
  CHECK(zpipe::LeasedRanges(secret, 8, leases, key).bad() == 2);  // another job
  CHECK(zpipe::LeasedRanges(counting(1, 16), 7, leases, key).bad() == 2);  // another secret

  auto widened = leases;
  widened[0].last = 7;  // the forger stretches a lease over ids dealt to others
  const zpipe::LeasedRanges stretched(secret, 7, widened, key);
  CHECK(stretched.bad() == 1);
  CHECK_FALSE(stretched.covers(5));
  CHECK(stretched.covers(8));
}

TEST_CASE("overlapping leases of one worker (a task dealt to it twice) cover every id of each") {
  std::vector<zpipe::Lease> leases;
  zpipe::sign_leases(secret, 7, {{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 0}, {6, 0}, {7, 0}, {8, 0}, {9, 0}, {10, 0}}, key,
                     leases);
  zpipe::sign_leases(secret, 7, {{5, 0}}, key, leases);
  const zpipe::LeasedRanges ranges(secret, 7, leases, key);
  for (zpipe::TaskId id = 1; id <= 10; ++id) CHECK(ranges.covers(id));
  CHECK_FALSE(ranges.covers(11));
}

TEST_CASE("a frame that goes on from the run dealt before gets a lease for the whole run") {
  std::vector<zpipe::Lease> leases;
  zpipe::sign_leases(secret, 7, {{4, 0}, {5, 0}, {9, 0}}, key, leases, 1);
  REQUIRE(leases.size() == 2);
  CHECK((leases[0].first == 1 && leases[0].last == 5));  // reaches back to 1: ids 1-3 came in earlier frames
  CHECK(leases[0].token == zpipe::lease_token(secret, 7, 1, 5, key));
  CHECK((leases[1].first == 9 && leases[1].last == 9));  // only the first run goes on from before
}

TEST_CASE("a worker returns only the widest of the leases of one run") {
  std::vector<zpipe::Lease> returned;
  for (zpipe::TaskId last = 1; last <= 3; ++last) {
    std::vector<zpipe::Lease> frame;
    zpipe::sign_leases(secret, 7, {{last, 0}}, key, frame, 1);
    zpipe::append_leases(returned, frame);
  }
  REQUIRE(returned.size() == 1);
  CHECK((returned[0].first == 1 && returned[0].last == 3));
  std::vector<zpipe::Lease> other_run;
  zpipe::sign_leases(secret, 7, {{7, 0}}, key, other_run);
  zpipe::append_leases(returned, other_run);
  CHECK(returned.size() == 2);
  const zpipe::LeasedRanges ranges(secret, 7, returned, key);
  CHECK(ranges.bad() == 0);
  for (const zpipe::TaskId id : {1, 2, 3, 7}) CHECK(ranges.covers(id));
  CHECK_FALSE(ranges.covers(4));
}
