// Integers in decimal, for the sink's lines: the digits of up to eight at a
// time, worked out side by side in one 64-bit word (sixteen at a time in an
// SSE2 register, for numbers of 9 to 16 digits), not one division after
// another. std::to_chars's chain of dependent divisions was a quarter of the
// sink's time at millions of results a second.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace zpipe {
namespace decimal_detail {

static_assert(std::endian::native == std::endian::little, "the digit lanes are laid out for a little-endian word");

// The eight decimal digits of n (< 10^8, leading zeros included) as byte
// values 0-9, the first digit in the lowest byte: the order they take in
// memory once the word is stored.
inline std::uint64_t digit_lanes(std::uint32_t n) {
  // Four digits in each 32-bit lane: n / 10^4 low (it comes first), n % 10^4 high.
  const std::uint64_t fours = (n / 10000) | (static_cast<std::uint64_t>(n % 10000) << 32);
  // Two in each 16-bit lane: x / 100 is (x * 10486) >> 20 for x < 10^4, and no
  // lane's product reaches the next lane.
  const std::uint64_t hundreds = ((fours * 10486) >> 20) & 0x0000007F0000007FULL;
  const std::uint64_t twos = ((fours - 100 * hundreds) << 16) + hundreds;
  // One in each byte: x / 10 is (x * 103) >> 10 for x < 100.
  const std::uint64_t tens = ((twos * 103) >> 10) & 0x000F000F000F000FULL;
  return ((twos - 10 * tens) << 8) + tens;
}

constexpr std::uint64_t ascii_zeros = 0x3030303030303030ULL;

// Writes n (< 10^8) without leading zeros; stores 8 bytes whatever its length.
inline char* write_up_to_8(char* out, std::uint32_t n) {
  const std::uint64_t lanes = digit_lanes(n);
  // The leading zeros are the low zero bytes; n = 0 keeps one of them.
  const int zeros = lanes == 0 ? 7 : std::countr_zero(lanes) / 8;
  const std::uint64_t text = (lanes + ascii_zeros) >> (8 * zeros);
  std::memcpy(out, &text, 8);
  return out + (8 - zeros);
}

// Writes n (< 10^8) as exactly 8 digits.
inline char* write_8(char* out, std::uint32_t n) {
  const std::uint64_t text = digit_lanes(n) + ascii_zeros;
  std::memcpy(out, &text, 8);
  return out + 8;
}

#if defined(__SSE2__)
// The 16 digits of n (< 10^16, leading zeros included) as ASCII, the first
// in the lowest byte: both 8-digit halves at once, in 16-bit lanes. Each
// lane of a 4-digit group x (< 10^4) is scaled to x / 1000, x / 100, x / 10
// and x by two high-half multiplications (4x fits 16 bits; each divisor's
// multiplier is exact for x < 10^4), then each lane less ten times the lane
// before it is one digit.
inline __m128i sixteen_digits(std::uint64_t n) {
  constexpr std::uint64_t e8 = 100000000;
  const auto high = static_cast<std::uint32_t>(n / e8);
  const auto low = static_cast<std::uint32_t>(n % e8);
  const auto lanes = [](std::uint32_t eight) {
    const auto first = static_cast<short>(eight / 10000), second = static_cast<short>(eight % 10000);
    return _mm_slli_epi16(_mm_set_epi16(second, second, second, second, first, first, first, first), 2);
  };
  const auto scaled = [](__m128i times4) {
    const __m128i divide = _mm_set_epi16(-32768, 13108, 5243, 8389, -32768, 13108, 5243, 8389);  // -32768: 0x8000
    const __m128i shift = _mm_set_epi16(-32768, 8192, 2048, 128, -32768, 8192, 2048, 128);
    const __m128i quotients = _mm_mulhi_epu16(_mm_mulhi_epu16(times4, divide), shift);
    return _mm_sub_epi16(quotients, _mm_slli_epi64(_mm_mullo_epi16(quotients, _mm_set1_epi16(10)), 16));
  };
  return _mm_add_epi8(_mm_packus_epi16(scaled(lanes(high)), scaled(lanes(low))), _mm_set1_epi8('0'));
}

// Writes n (10^8 <= n < 10^16) without leading zeros; stores 16 bytes.
inline char* write_9_to_16(char* out, std::uint64_t n) {
  const __m128i digits = sixteen_digits(n);
  const std::uint64_t first = static_cast<std::uint64_t>(_mm_cvtsi128_si64(digits));
  const std::uint64_t second = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(digits, digits)));
  // n >= 10^8, so the first half holds a digit other than '0'.
  const int zeros = std::countr_zero(first - ascii_zeros) / 8;
  const std::uint64_t text = first >> (8 * zeros);
  std::memcpy(out, &text, 8);
  std::memcpy(out + 8 - zeros, &second, 8);
  return out + 16 - zeros;
}
#endif

}  // namespace decimal_detail

/// Room write_decimal needs at `out`: it may store up to this many bytes
/// (past the digits, bytes that the caller overwrites or ignores).
inline constexpr std::size_t decimal_room = 24;

/// Writes n in decimal at `out` and returns the end of the digits.
inline char* write_decimal(char* out, std::uint64_t n) {
  using namespace decimal_detail;
  constexpr std::uint64_t e8 = 100000000;
  if (n < e8) return write_up_to_8(out, static_cast<std::uint32_t>(n));
#if defined(__SSE2__)
  if (n < e8 * e8) return write_9_to_16(out, n);
#else
  if (n < e8 * e8) {
    out = write_up_to_8(out, static_cast<std::uint32_t>(n / e8));
    return write_8(out, static_cast<std::uint32_t>(n % e8));
  }
#endif
  out = write_up_to_8(out, static_cast<std::uint32_t>(n / (e8 * e8)));
  out = write_8(out, static_cast<std::uint32_t>(n / e8 % e8));
  return write_8(out, static_cast<std::uint32_t>(n % e8));
}

/// Writes n in decimal, with a '-' when negative.
inline char* write_decimal(char* out, std::int64_t n) {
  if (n >= 0) return write_decimal(out, static_cast<std::uint64_t>(n));
  *out = '-';
  return write_decimal(out + 1, std::uint64_t{0} - static_cast<std::uint64_t>(n));
}

}  // namespace zpipe
