// The reorder buffer alone: whatever order results arrive in, within its
// limit or beyond it, each leaves once, in id order, with its own worker.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "zpipe/reorder_buffer.hpp"

namespace {

struct Released {
  zpipe::TaskId id;
  std::int64_t value;
  std::string worker;
  bool operator==(const Released&) const = default;
};

zpipe::Result result_of(zpipe::TaskId id) {
  return zpipe::Result{id, id % 7 != 0, zpipe::Value{static_cast<std::int64_t>(id) * 3}};
}

std::string worker_of(zpipe::TaskId id) { return "worker-with-a-name-past-short-strings-" + std::to_string(id % 5); }

}  // namespace

TEST_CASE("reorder buffer: results in any order leave in id order, each once, with its worker") {
  const auto seed = GENERATE(range(1u, 41u));
  const auto limit = GENERATE(as<std::uint64_t>{}, 1, 7, 64, 5000);
  CAPTURE(seed, limit);
  std::mt19937_64 random(seed);
  // Frames of a few ids, shuffled within a span of about the limit (a
  // ventilator that honours it), sometimes a frame from far beyond.
  constexpr zpipe::TaskId total = 3000;
  std::vector<zpipe::TaskId> order;
  for (zpipe::TaskId id = 1; id <= total; ++id) order.push_back(id);
  const std::size_t span = static_cast<std::size_t>(std::min<std::uint64_t>(limit, 2 * total)) + 1;
  for (std::size_t at = 0; at < order.size(); at += span)
    std::shuffle(order.begin() + static_cast<std::ptrdiff_t>(at),
                 order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), at + span)), random);
  if (seed % 4 == 0) std::rotate(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(order.size() / 2), order.end());

  zpipe::ReorderBuffer buffer(limit);
  std::vector<Released> released;
  std::uint64_t beyond = 0;
  std::uint64_t most_held = 0;
  std::uint64_t taken = 0;
  for (const zpipe::TaskId id : order) {
    const zpipe::TaskId next = buffer.next();
    const bool within = buffer.take(result_of(id), worker_of(id), [&](const zpipe::Result& result, std::string_view worker) {
      released.push_back(Released{result.id, std::get<std::int64_t>(result.value), std::string(worker)});
      CHECK(result == result_of(result.id));
    });
    CHECK(within == (id - next <= limit));
    beyond += within ? 0 : 1;
    most_held = std::max(most_held, buffer.held());
    CHECK(buffer.held() == ++taken - released.size());
    CHECK(buffer.next() == released.size() + 1);
  }
  REQUIRE(released.size() == total);
  for (zpipe::TaskId id = 1; id <= total; ++id)
    CHECK(released[id - 1] == Released{id, static_cast<std::int64_t>(id) * 3, worker_of(id)});
  CHECK(buffer.held() == 0);
  CHECK(buffer.next() == total + 1);
  CHECK(buffer.peak() == most_held);
  CHECK(buffer.bytes() == 0);
  if (seed % 4 == 0 && limit < total / 2) CHECK(beyond > 0);
}

TEST_CASE("reorder buffer: a rerun (--resume-failed) of a released result leaves at once, of a held one replaces it") {
  const auto limit = GENERATE(as<std::uint64_t>{}, 1, 8);
  CAPTURE(limit);
  zpipe::ReorderBuffer buffer(limit);
  std::vector<std::pair<zpipe::TaskId, bool>> released;
  const auto take = [&](zpipe::TaskId id, bool ok) {
    return buffer.take(zpipe::Result{id, ok, zpipe::Value{std::int64_t{0}}}, "w",
                       [&](const zpipe::Result& result, std::string_view) { released.emplace_back(result.id, result.ok); });
  };
  using Released = std::vector<std::pair<zpipe::TaskId, bool>>;
  take(1, true);
  take(2, false);
  take(2, true);  // task 2 was printed failed; its rerun is printed now, nothing before it missing
  CHECK(released == Released{{1, true}, {2, false}, {2, true}});
  CHECK(buffer.held() == 0);
  // Task 4 failed and waits for 3; its rerun replaces it, counted once.
  take(4, false);
  take(4, true);
  CHECK(buffer.held() == 1);
  take(3, true);
  CHECK(released == Released{{1, true}, {2, false}, {2, true}, {3, true}, {4, true}});
  CHECK(buffer.held() == 0);
  CHECK(buffer.bytes() == 0);
  CHECK(buffer.next() == 5);
  // The same two ids past the limit of 1 (held apart, by id), and within 8.
  CHECK(take(7, false) == (limit >= 2));
  take(7, true);
  CHECK(buffer.held() == 1);
  take(5, true);
  take(6, true);
  CHECK(released.back() == std::pair<zpipe::TaskId, bool>{7, true});
  CHECK(released.size() == 8);
  CHECK(buffer.held() == 0);
  CHECK(buffer.bytes() == 0);
}
