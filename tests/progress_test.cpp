// The sink's progress line: done/total, rate, failed and retried, time left.
#include <catch2/catch.hpp>

#include "progress.hpp"

TEST_CASE("the progress line shows the rate, the failed and retried tasks, and the time left") {
  CHECK(zpipe::ProgressLine::text(250, 1000, 3, 7, 2.0) ==
        "250/1000 tasks (25.0%), 125 tasks/s, 3 failed, 7 retried, 6 s left");
  CHECK(zpipe::ProgressLine::text(40, std::nullopt, 0, 2, 4.0) == "40 tasks, 10 tasks/s, 0 failed, 2 retried");
  CHECK(zpipe::ProgressLine::text(0, 10, 0, 0, 0.0) == "0/10 tasks (0.0%), 0 tasks/s, 0 failed, 0 retried, 0 s left");
}
