// RangeSet: the ids a resumed job must skip, merged on insert and taken in
// increasing order; checked against a plain std::set.
#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <utility>
#include <vector>

#include "zpipe/range_set.hpp"

namespace {

using zpipe::RangeSet;
using zpipe::TaskId;
using Ranges = std::vector<std::pair<TaskId, TaskId>>;

}  // namespace

TEST_CASE("range set: adding merges overlapping and adjacent ranges and counts each id once", "[range_set]") {
  struct Row {
    Ranges added;
    std::uint64_t count;
    std::vector<TaskId> in, out;
  };
  const auto row = GENERATE(values<Row>({
      {{}, 0, {}, {1, 2}},
      {{{5, 5}}, 1, {5}, {4, 6}},
      {{{1, 3}, {4, 6}}, 6, {1, 3, 4, 6}, {7}},             // adjacent above
      {{{4, 6}, {1, 3}}, 6, {1, 6}, {7}},                   // adjacent below
      {{{1, 5}, {3, 8}}, 8, {1, 8}, {9}},                   // overlapping
      {{{3, 8}, {1, 5}}, 8, {1, 8}, {9}},
      {{{1, 10}, {3, 4}}, 10, {1, 10}, {11}},               // inside
      {{{3, 4}, {1, 10}}, 10, {1, 10}, {11}},               // around
      {{{1, 1}, {1, 1}, {1, 1}}, 1, {1}, {2}},              // the same again
      {{{1, 2}, {5, 6}, {9, 10}, {3, 8}}, 10, {1, 5, 10}, {11}},  // bridges several
      {{{1, 2}, {5, 6}, {9, 10}}, 6, {1, 2, 5, 6, 9, 10}, {3, 4, 7, 8, 11}},
      {{{10, 20}, {22, 30}, {21, 21}}, 21, {10, 21, 30}, {9, 31}},  // fills a gap of one
      {{{5, 4}}, 0, {}, {4, 5}},                            // empty range
  }));
  CAPTURE(row.added);
  RangeSet set;
  for (const auto& [first, last] : row.added)
    if (first <= last) set.add(first, last);
  CHECK(set.count() == row.count);
  // take() must be asked in increasing order.
  std::vector<std::pair<TaskId, bool>> asked;
  for (TaskId id : row.in) asked.emplace_back(id, true);
  for (TaskId id : row.out) asked.emplace_back(id, false);
  std::sort(asked.begin(), asked.end());
  for (const auto& [id, present] : asked) {
    CAPTURE(id);
    CHECK(set.take(id) == present);
  }
  // Taking does not change what was ever added.
  CHECK(set.count() == row.count);
}

TEST_CASE("range set: ids are taken in increasing order, and asking again is answered the same", "[range_set]") {
  RangeSet set;
  set.add(3, 5);
  set.add(9, 9);
  CHECK_FALSE(set.take(1));
  CHECK(set.take(3));
  CHECK(set.take(3));
  CHECK(set.take(5));
  CHECK_FALSE(set.take(6));
  CHECK(set.take(9));
  CHECK_FALSE(set.take(10));
  CHECK_FALSE(set.take(~TaskId{0}));
}

TEST_CASE("range set: agrees with a std::set over random ranges", "[range_set]") {
  const auto seed = GENERATE(range(1u, 51u));
  CAPTURE(seed);
  std::mt19937_64 random(seed);
  const TaskId universe = std::uniform_int_distribution<TaskId>(5, 300)(random);
  std::uniform_int_distribution<TaskId> id(1, universe), length(1, 12);
  RangeSet set;
  std::set<TaskId> model;
  const int adds = std::uniform_int_distribution<int>(0, 60)(random);
  for (int i = 0; i < adds; ++i) {
    const TaskId first = id(random);
    const TaskId last = first + length(random) - 1;
    set.add(first, last);
    for (TaskId each = first; each <= last; ++each) model.insert(each);
    REQUIRE(set.count() == model.size());
  }
  // Ask every id, or a random increasing subset of them.
  const bool every_id = seed % 2 == 0;
  for (TaskId each = 1; each <= universe + 13; ++each) {
    if (!every_id && random() % 3 != 0) continue;
    CAPTURE(each);
    REQUIRE(set.take(each) == model.contains(each));
  }
}
