// CreditWindow: what a worker hands back and when, and that the
// ventilator's view of the worker's credits always matches the window.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "credit_window.hpp"

namespace {

using zpipe::CreditWindow;

}  // namespace

TEST_CASE("credit window: reset starts again at the initial size", "[credit_window]") {
  CreditWindow credits(4);
  CHECK(credits.window() == 0);
  CHECK(credits.reset() == 4);
  CHECK(credits.window() == 4);
  credits.finished(3);
  REQUIRE(credits.to_return(16, true) == 15);
  REQUIRE(credits.window() == 16);
  credits.finished(2);
  CHECK(credits.reset() == 4);
  CHECK(credits.window() == 4);
  CHECK(credits.owed() == 0);
}

TEST_CASE("credit window: when to return credits", "[credit_window]") {
  struct Row {
    const char* why;
    std::uint32_t initial, finished, wanted;
    bool idle;
    std::uint32_t returned, window, owed;
  };
  const auto row = GENERATE(values<Row>({
      {"nothing owed, nothing wanted", 8, 0, 8, true, 0, 8, 0},
      {"nothing owed, nothing wanted, busy", 8, 0, 8, false, 0, 8, 0},
      {"nothing owed, less wanted", 8, 0, 2, true, 0, 8, 0},
      {"nothing owed, more wanted: grow", 8, 0, 12, false, 4, 12, 0},
      {"idle: return even one", 8, 1, 8, true, 1, 8, 0},
      {"busy and a small give: wait", 8, 1, 8, false, 0, 8, 1},
      {"busy, a quarter of the window: return", 8, 2, 8, false, 2, 8, 0},
      {"busy, a window of 1 returns 1", 1, 1, 1, false, 1, 1, 0},
      {"busy, a window of 2 returns 1", 2, 1, 2, false, 1, 2, 0},
      {"idle, shrinking: keep what was owed", 8, 4, 2, true, 0, 4, 0},
      {"idle, shrinking a little", 8, 4, 6, true, 2, 6, 0},
      {"busy, shrinking: wait", 8, 4, 2, false, 0, 8, 4},
      {"idle, everything back and growing", 4, 4, 8, true, 8, 8, 0},
  }));
  CAPTURE(row.why);
  CreditWindow credits(row.initial);
  credits.reset();
  credits.finished(row.finished);
  CHECK(credits.to_return(row.wanted, row.idle) == row.returned);
  CHECK(credits.window() == row.window);
  CHECK(credits.owed() == row.owed);
}

TEST_CASE("credit window: growth is at most doubling per return", "[credit_window]") {
  const auto [window, wanted, allowed] = GENERATE(table<std::uint32_t, std::uint32_t, std::uint32_t>({
      {4, 2, 2},
      {4, 8, 8},
      {4, 9, 8},
      {4, 1000, 8},
      {1, 1000, 2},
      {0, 5, 0},
  }));
  CreditWindow credits(window);
  credits.reset();
  CHECK(credits.at_most_doubled(wanted) == allowed);
}

// The ventilator starts a worker with `initial` credits, spends one per
// frame it deals and adds what the worker returns. Its count must never go
// negative, must always be the window less the frames the worker holds, and
// the window never exceeds the largest size ever wanted.
TEST_CASE("credit window: the ventilator's view matches the window in any sequence", "[credit_window]") {
  const auto seed = GENERATE(range(1u, 41u));
  CAPTURE(seed);
  std::mt19937 random(seed);
  const auto pick = [&](std::uint32_t low, std::uint32_t high) {
    return std::uniform_int_distribution<std::uint32_t>(low, high)(random);
  };
  const std::uint32_t initial = pick(1, 16);
  CreditWindow credits(initial);
  std::int64_t ventilator = credits.reset();  // credits it may still spend
  std::uint32_t queued = 0;                   // dealt, not finished
  std::uint32_t largest = initial;

  for (int step = 0; step < 2000; ++step) {
    switch (pick(0, 2)) {
      case 0: {  // the ventilator deals some frames
        const auto frames = static_cast<std::uint32_t>(std::min<std::int64_t>(ventilator, pick(0, 8)));
        ventilator -= frames;
        queued += frames;
        break;
      }
      case 1: {  // the worker finishes some
        const std::uint32_t frames = std::min(queued, pick(0, 8));
        queued -= frames;
        credits.finished(frames);
        break;
      }
      default: {  // the worker ticks, wanting a backlog of some size
        const std::uint32_t wanted = credits.at_most_doubled(pick(1, 64));
        largest = std::max(largest, wanted);
        const std::uint32_t returned = credits.to_return(wanted, queued == 0);
        ventilator += returned;
        if (returned > 0) REQUIRE(credits.window() == wanted);
        break;
      }
    }
    REQUIRE(ventilator >= 0);
    REQUIRE(ventilator + queued + credits.owed() == credits.window());
    REQUIRE(credits.window() <= largest);
  }
}
