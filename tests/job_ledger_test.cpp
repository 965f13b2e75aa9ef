// The sink's ledger: each id counted once, ids outside the job refused, and
// acknowledgements gathered into ranges.
#include <catch2/catch.hpp>

#include "job_ledger.hpp"

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

TEST_CASE("ack ranges join consecutive ids") {
  AckRanges ranges;
  for (const zpipe::TaskId id : {1, 2, 3, 7, 8, 5}) ranges.add(id);
  const auto taken = ranges.take();
  REQUIRE(taken == std::vector<std::pair<zpipe::TaskId, zpipe::TaskId>>{{1, 3}, {7, 8}, {5, 5}});
  CHECK(ranges.empty());
}
