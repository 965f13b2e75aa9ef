// The sink's decimal writer against std::to_chars: every power of ten and
// its neighbours (where the digit count and the 8-digit chunks change), the
// extremes, and a seeded sweep of every length.
#include <catch2/catch.hpp>

#include <array>
#include <charconv>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>

#include "zpipe/decimal_digits.hpp"

namespace {

template <class Integer>
void check_written(Integer n) {
  std::array<char, 64> expected{};
  const std::string_view want(expected.data(),
                              static_cast<std::size_t>(std::to_chars(expected.data(), expected.data() + 64, n).ptr - expected.data()));
  // Canaries around the room the writer may use: it must store nothing outside it.
  std::array<char, zpipe::decimal_room + 16> buffer;
  buffer.fill('#');
  char* const out = buffer.data() + 8;
  char* const end = zpipe::write_decimal(out, n);
  CAPTURE(n);
  REQUIRE(std::string_view(out, static_cast<std::size_t>(end - out)) == want);
  CHECK(std::string_view(buffer.data(), 8) == "########");
  CHECK(std::string_view(out + zpipe::decimal_room, 8) == "########");
}

}  // namespace

TEST_CASE("decimal digits: powers of ten, their neighbours and the extremes are written as to_chars writes them") {
  std::uint64_t power = 1;
  for (int digits = 1; digits <= 20; ++digits) {
    for (const std::uint64_t n : {power - 1, power, power + 1, power * 2 - 1}) {
      check_written(n);
      if (n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        check_written(static_cast<std::int64_t>(n));
        check_written(-static_cast<std::int64_t>(n));
      }
    }
    if (digits < 20) power *= 10;
  }
  check_written(std::numeric_limits<std::uint64_t>::max());
  check_written(std::numeric_limits<std::int64_t>::max());
  check_written(std::numeric_limits<std::int64_t>::min());
  check_written(std::int64_t{-1});
}

TEST_CASE("decimal digits: numbers of every length, with every digit in every place, are written as to_chars writes them") {
  std::mt19937_64 random(20261207);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t n = random() >> (random() % 64);  // spread over every length
    check_written(n);
    check_written(static_cast<std::int64_t>(n));
  }
}
