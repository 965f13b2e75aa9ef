// The sink's ledger: each id counted once, ids outside the job refused,
// memory that follows the ids in flight (not the ids' size), and
// acknowledgements gathered into ranges.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>

#include "zpipe/job_ledger.hpp"

using zpipe::AckRanges;
using zpipe::JobLedger;
using Outcome = JobLedger::Outcome;

TEST_CASE("a ledger counts each task once and knows when the job is complete") {
  JobLedger ledger(3);
  CHECK(ledger.record(2, true) == Outcome::recorded);
  CHECK(ledger.record(2, true) == Outcome::duplicate);
  CHECK(ledger.record(1, false) == Outcome::recorded);
  CHECK_FALSE(ledger.complete());
  CHECK(ledger.record(3, true) == Outcome::recorded);
  CHECK(ledger.complete());
  CHECK(ledger.ok() == 2);
  CHECK(ledger.failed() == 1);
}

TEST_CASE("ids outside the job are refused") {
  auto [total, id] = GENERATE(table<std::uint64_t, std::uint64_t>({{10, 0}, {10, 11}, {1, 2}}));
  JobLedger ledger(total);
  CHECK(ledger.record(id, true) == Outcome::out_of_range);
  CHECK(ledger.completed() == 0);
}

TEST_CASE("with the total unknown, ids may lead the lowest missing one by a bounded amount") {
  JobLedger ledger;
  CHECK(ledger.record(JobLedger::max_lead, true) == Outcome::recorded);
  CHECK(ledger.record(JobLedger::max_lead + 1, true) == Outcome::out_of_range);
  CHECK(ledger.record(1, true) == Outcome::recorded);
  CHECK(ledger.record(JobLedger::max_lead + 1, true) == Outcome::recorded);
}

TEST_CASE("a total below ids already done is refused") {
  JobLedger ledger;
  REQUIRE(ledger.record(5, true) == Outcome::recorded);
  CHECK_FALSE(ledger.set_total(4));
  CHECK_FALSE(ledger.total().has_value());
  CHECK(ledger.set_total(5));
  CHECK_FALSE(ledger.complete());
}

TEST_CASE("a hostile id far above the others is refused and costs no memory") {
  const auto total = GENERATE(std::optional<std::uint64_t>{}, std::optional<std::uint64_t>{std::uint64_t{1} << 62});
  JobLedger ledger(total);
  const auto before = ledger.memory_bytes();
  CHECK(ledger.record(std::uint64_t{1} << 60, true) == Outcome::out_of_range);
  CHECK(ledger.record(~std::uint64_t{0}, true) == Outcome::out_of_range);
  CHECK(ledger.record(JobLedger::max_lead + 1, true) == Outcome::out_of_range);
  CHECK(ledger.memory_bytes() == before);
  CHECK(ledger.memory_bytes() < 1024);
  CHECK(ledger.completed() == 0);
}

TEST_CASE("ids arriving in order keep the ledger tiny") {
  constexpr std::uint64_t count = 10'000'000;
  JobLedger ledger(count);
  std::size_t most = 0;
  for (std::uint64_t id = 1; id <= count; ++id) {
    if (ledger.record(id, true) != Outcome::recorded) FAIL("id " << id << " not recorded");
    if (id % 4096 == 0) most = std::max(most, ledger.memory_bytes());
  }
  CHECK(most < 1024);
  CHECK(ledger.complete());
  CHECK(ledger.done_ranges() == std::vector<std::pair<zpipe::TaskId, zpipe::TaskId>>{{1, count}});
  CHECK(ledger.record(count / 2, true) == Outcome::duplicate);
}

TEST_CASE("scattered ids within the lead are kept, and the memory given back once they are all done") {
  JobLedger ledger;
  std::mt19937_64 random(42);
  std::uniform_int_distribution<std::uint64_t> anywhere(2, JobLedger::max_lead);
  std::set<std::uint64_t> done;
  for (int i = 0; i < 100'000; ++i) {
    const auto id = anywhere(random);
    CHECK(ledger.record(id, true) == (done.insert(id).second ? Outcome::recorded : Outcome::duplicate));
  }
  CHECK(ledger.memory_bytes() <= sizeof ledger + 2 * 1024 * 1024 + 8);
  CHECK(ledger.completed() == done.size());
  CHECK(ledger.has(*done.begin()));
  CHECK_FALSE(ledger.has(1));
  for (std::uint64_t id = 1; id <= JobLedger::max_lead; ++id) ledger.record(id, true);
  CHECK(ledger.done_ranges() == std::vector<std::pair<zpipe::TaskId, zpipe::TaskId>>{{1, JobLedger::max_lead}});
  CHECK(ledger.memory_bytes() < 1024);
}

TEST_CASE("done ranges and has() agree with a plain set of ids") {
  const auto [seed, spread] = GENERATE(table<unsigned, std::uint64_t>(
      {{1, 1}, {2, 8}, {3, 64}, {4, 200}, {5, 5000}, {6, 100'000}, {7, 1}, {8, 70}}));
  std::mt19937_64 random(seed);
  JobLedger ledger;
  std::set<zpipe::TaskId> done;
  zpipe::TaskId next = 1;
  for (int i = 0; i < 20'000; ++i) {
    // Mostly in order, with a jitter of `spread`; some ids again.
    const zpipe::TaskId id = next + random() % spread;
    next += random() % 2;
    const bool fresh = done.insert(id).second;
    REQUIRE(ledger.record(id, i % 7 != 0) == (fresh ? Outcome::recorded : Outcome::duplicate));
  }
  std::vector<std::pair<zpipe::TaskId, zpipe::TaskId>> expected;
  for (const auto id : done) {
    if (!expected.empty() && expected.back().second + 1 == id) expected.back().second = id;
    else expected.emplace_back(id, id);
  }
  CHECK(ledger.done_ranges() == expected);
  CHECK(ledger.completed() == done.size());
  for (zpipe::TaskId id = 0; id <= *done.rbegin() + 70; ++id)
    if (ledger.has(id) != (done.count(id) == 1)) FAIL("has(" << id << ") is wrong");
}

TEST_CASE("a known total does not lift the lead limit") {
  JobLedger ledger(std::uint64_t{1} << 40);
  CHECK(ledger.record(JobLedger::max_lead + 1, true) == Outcome::out_of_range);
  CHECK(ledger.record(JobLedger::max_lead, true) == Outcome::recorded);
  CHECK_FALSE(ledger.set_total(JobLedger::max_lead - 1));
  CHECK(ledger.total() == std::uint64_t{1} << 40);
}

TEST_CASE("ack ranges join consecutive ids") {
  AckRanges ranges;
  for (const zpipe::TaskId id : {1, 2, 3, 7, 8, 5}) ranges.add(id);
  const auto taken = ranges.take();
  REQUIRE(taken == std::vector<std::pair<zpipe::TaskId, zpipe::TaskId>>{{1, 3}, {7, 8}, {5, 5}});
  CHECK(ranges.empty());
}
