// InFlightTable: each task in exactly one state, the queues' flags, and the
// table shrinking from the front as the sink acknowledges; the ring buffer
// it keeps them in.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "zpipe/in_flight.hpp"
#include "zpipe/ring_buffer.hpp"

namespace {

using zpipe::InFlightTable;
using zpipe::TaskId;
using State = InFlightTable::State;

InFlightTable table_of(int tasks) {
  InFlightTable table;
  for (int i = 0; i < tasks; ++i) table.add(zpipe::Value{std::string("task ") + std::to_string(i + 1)});
  return table;
}

// Records the holder of each task acknowledge() reports released, in order
// (a call for a run of `tasks` records the holder that many times).
struct Released {
  std::vector<InFlightTable::Holder>* calls;
  void operator()(InFlightTable::Holder holder, std::uint64_t tasks) const { calls->insert(calls->end(), tasks, holder); }
};

}  // namespace

TEST_CASE("in flight: add numbers tasks from 1 and keeps them waiting", "[in_flight]") {
  InFlightTable table;
  CHECK(table.read() == 0);
  CHECK(table.span() == 0);
  CHECK(table.add(zpipe::Value{std::string("a")}) == 1);
  CHECK(table.add(zpipe::Value{std::string("b")}) == 2);
  CHECK(table.add(zpipe::Value{std::int64_t{7}}) == 3);
  CHECK(table.add(zpipe::Value{}) == 4);  // nil (a Python None)
  CHECK(table.add(zpipe::Value{std::int64_t{0}}) == 5);
  CHECK(table.read() == 5);
  CHECK(table.span() == 5);
  CHECK(table.unacknowledged() == 5);
  for (TaskId id : {1, 2, 3, 4, 5}) {
    CHECK(table.known(id));
    CHECK(table.state(id) == State::waiting);
    CHECK(table.losses(id) == 0);
    CHECK_FALSE(table.queued(id));
  }
  // Each payload comes back as it went in: text, a number, nil, and a zero
  // that is not nil.
  CHECK(table.payload(2) == zpipe::Value{std::string("b")});
  CHECK(table.payload(3) == zpipe::Value{std::int64_t{7}});
  CHECK(table.payload(4) == zpipe::Value{});
  CHECK(table.payload(5) == zpipe::Value{std::int64_t{0}});
  CHECK_FALSE(table.known(0));
  CHECK_FALSE(table.known(6));
}

TEST_CASE("in flight: release gives back only the holder's tasks, oldest first", "[in_flight]") {
  auto table = table_of(6);
  table.hold(5, 1);
  table.hold(2, 1);
  table.hold(3, 2);
  table.hold(6, 1);
  table.fail(4, "too long");

  CHECK(table.release(1) == std::vector<TaskId>{2, 5, 6});
  for (TaskId id : {2, 5, 6}) CHECK(table.state(id) == State::waiting);
  CHECK(table.state(3) == State::held);
  CHECK(table.state(4) == State::failed);
  CHECK(table.release(1).empty());  // released already
  CHECK(table.release(9).empty());  // never held anything
  CHECK(table.release(2) == std::vector<TaskId>{3});
}

TEST_CASE("in flight: fail replaces the payload and is listed until acknowledged", "[in_flight]") {
  auto table = table_of(4);
  table.hold(2, 0);
  table.fail(2, "lost with 3 workers");
  table.fail(4, "line too long");
  CHECK(table.state(2) == State::failed);
  CHECK(table.payload(2) == zpipe::Value{std::string("lost with 3 workers")});
  CHECK(table.failed_ids() == std::vector<TaskId>{2, 4});
  // A failed task is no longer held: its old holder does not get it back.
  CHECK(table.release(0).empty());

  std::vector<InFlightTable::Holder> calls;
  table.acknowledge(2, 2, Released{&calls});
  CHECK(calls.empty());
  CHECK(table.failed_ids() == std::vector<TaskId>{4});
  CHECK(table.unacknowledged() == 3);
}

// The past bug: release_all re-dealt failed tasks. Whatever state a task is
// in, release_all returns it exactly when it is still to be dealt.
TEST_CASE("in flight: release_all returns waiting and held tasks, never failed or done ones", "[in_flight]") {
  const auto [state, returned] = GENERATE(table<State, bool>({
      {State::waiting, true},
      {State::held, true},
      {State::failed, false},
      {State::done, false},
  }));
  CAPTURE(static_cast<int>(state));
  // Task 2 takes the state; task 1 stays waiting and unacknowledged, so a
  // done task 2 is still inside the table's span.
  auto table = table_of(3);
  table.hold(3, 5);
  switch (state) {
    case State::waiting: break;
    case State::held: table.hold(2, 4); break;
    case State::failed: table.fail(2, "given up"); break;
    case State::done: table.acknowledge(2, 2, [](InFlightTable::Holder, std::uint64_t) {}); break;
  }
  REQUIRE(table.span() == 3);

  const auto ids = table.release_all();
  CHECK(ids == (returned ? std::vector<TaskId>{1, 2, 3} : std::vector<TaskId>{1, 3}));
  CHECK(table.state(2) == (state == State::held ? State::waiting : state));
  CHECK(table.state(3) == State::waiting);
  // Nothing is held any more, so no holder gets anything back.
  CHECK(table.release(4).empty());
  CHECK(table.release(5).empty());
}

TEST_CASE("in flight: acknowledging a held task calls released(holder) once", "[in_flight]") {
  auto table = table_of(5);
  table.hold(2, 7);
  table.hold(3, 8);
  table.hold(5, 7);
  std::vector<InFlightTable::Holder> calls;

  // Task 1 stays unacknowledged, so 2-4 stay in the table once done.
  table.acknowledge(2, 4, Released{&calls});
  CHECK(calls == std::vector<InFlightTable::Holder>{7, 8});  // 4 was waiting: no holder
  CHECK(table.unacknowledged() == 2);
  REQUIRE(table.span() == 5);

  calls.clear();
  table.acknowledge(1, 5, Released{&calls});  // 2-4 again: already done
  CHECK(calls == std::vector<InFlightTable::Holder>{7});
  CHECK(table.unacknowledged() == 0);
  CHECK(table.span() == 0);
  CHECK(table.state(5) == State::done);
  // A done task is not held: releasing its old holder gives nothing back.
  CHECK(table.release(7).empty());
}

TEST_CASE("in flight: acknowledge clamps its range to the table", "[in_flight]") {
  struct Row {
    TaskId first, last;
    std::uint64_t unacknowledged, span;
  };
  const auto row = GENERATE(values<Row>({
      {0, 0, 4, 4},     // below the table
      {5, 9, 4, 4},     // above it
      {3, 2, 4, 4},     // empty range
      {0, 2, 2, 2},     // starts below: 1-2 done
      {3, 100, 2, 4},   // ends above: 3-4 done, 1 and 2 keep the span
      {0, ~TaskId{0}, 0, 0},
  }));
  CAPTURE(row.first, row.last);
  auto table = table_of(4);
  table.acknowledge(row.first, row.last, [](InFlightTable::Holder, std::uint64_t) {});
  CHECK(table.unacknowledged() == row.unacknowledged);
  CHECK(table.span() == row.span);
  CHECK(table.read() == 4);
}

TEST_CASE("in flight: the table shrinks from the front as tasks are acknowledged", "[in_flight]") {
  auto table = table_of(5);
  auto ack = [&](TaskId first, TaskId last) { table.acknowledge(first, last, [](InFlightTable::Holder, std::uint64_t) {}); };

  ack(2, 3);
  CHECK(table.span() == 5);  // 1 is still unacknowledged
  CHECK(table.unacknowledged() == 3);
  CHECK(table.known(2));
  CHECK(table.state(2) == State::done);

  ack(1, 1);
  CHECK(table.span() == 2);  // 1-3 gone from the front
  CHECK_FALSE(table.known(1));
  CHECK_FALSE(table.known(3));
  CHECK(table.state(1) == State::done);  // a task no longer in the table is done
  CHECK(table.state(4) == State::waiting);

  ack(5, 5);
  CHECK(table.span() == 2);
  ack(4, 4);
  CHECK(table.span() == 0);
  CHECK(table.unacknowledged() == 0);
  CHECK(table.read() == 5);
  // New tasks continue the numbering after an empty table.
  CHECK(table.add(zpipe::Value{}) == 6);
  CHECK(table.span() == 1);
  CHECK(table.known(6));
  CHECK(table.state(6) == State::waiting);
}

TEST_CASE("in flight: queued flags are per task and cleared by acknowledge", "[in_flight]") {
  auto table = table_of(3);
  table.set_queued(2, true);
  CHECK(table.queued(2));
  CHECK_FALSE(table.queued(1));
  CHECK_FALSE(table.queued(3));
  table.set_queued(2, false);
  CHECK_FALSE(table.queued(2));

  table.set_queued(1, true);
  table.set_queued(3, true);
  table.acknowledge(3, 3, [](InFlightTable::Holder, std::uint64_t) {});
  CHECK_FALSE(table.queued(3));
  CHECK(table.queued(1));

  // Ids outside the table are never queued, and setting them is ignored.
  table.set_queued(99, true);
  CHECK_FALSE(table.queued(99));
  table.acknowledge(1, 2, [](InFlightTable::Holder, std::uint64_t) {});
  table.set_queued(1, true);
  CHECK_FALSE(table.queued(1));
}

TEST_CASE("in flight: losses are counted per task", "[in_flight]") {
  auto table = table_of(2);
  CHECK(table.lost(1) == 1);
  CHECK(table.lost(1) == 2);
  CHECK(table.lost(2) == 1);
  table.hold(1, 3);
  table.release(3);
  CHECK(table.losses(1) == 2);
}

// The table against a model (a map of states) over seeded random operations.
TEST_CASE("in flight: random operations agree with a model", "[in_flight]") {
  const auto seed = GENERATE(range(1u, 21u));
  CAPTURE(seed);
  std::mt19937 random(seed);
  InFlightTable table;
  std::map<TaskId, State> model;
  std::map<TaskId, InFlightTable::Holder> holders;
  TaskId next = 1;
  const auto pick = [&](TaskId below) { return std::uniform_int_distribution<TaskId>(1, below)(random); };

  for (int step = 0; step < 300; ++step) {
    const int op = std::uniform_int_distribution<int>(0, 5)(random);
    if (op == 0 || next == 1) {
      REQUIRE(table.add(zpipe::Value{}) == next);
      model[next++] = State::waiting;
    } else if (op == 1) {
      const TaskId id = pick(next - 1);
      if (model[id] != State::waiting) continue;
      const auto holder = static_cast<InFlightTable::Holder>(pick(3));
      table.hold(id, holder);
      model[id] = State::held;
      holders[id] = holder;
    } else if (op == 2) {
      const TaskId id = pick(next - 1);
      if (model[id] != State::waiting) continue;
      table.fail(id, "failed");
      model[id] = State::failed;
    } else if (op == 3) {
      const auto holder = static_cast<InFlightTable::Holder>(pick(3));
      std::vector<TaskId> expected;
      for (auto& [id, state] : model)
        if (state == State::held && holders[id] == holder) {
          expected.push_back(id);
          state = State::waiting;
        }
      REQUIRE(table.release(holder) == expected);
    } else if (op == 4) {
      const TaskId first = pick(next), last = first + pick(4) - 1;
      std::vector<InFlightTable::Holder> expected, calls;
      for (auto& [id, state] : model) {
        if (id < first || id > last || state == State::done) continue;
        if (state == State::held) expected.push_back(holders[id]);
        state = State::done;
      }
      table.acknowledge(first, last, Released{&calls});
      REQUIRE(calls == expected);
    } else {
      std::vector<TaskId> expected;
      for (auto& [id, state] : model) {
        if (state == State::held) state = State::waiting;
        if (state == State::waiting) expected.push_back(id);
      }
      REQUIRE(table.release_all() == expected);
    }

    std::uint64_t unacknowledged = 0;
    TaskId oldest = next;
    std::vector<TaskId> failed;
    for (const auto& [id, state] : model) {
      REQUIRE(table.state(id) == state);
      if (state == State::done) continue;
      ++unacknowledged;
      oldest = std::min(oldest, id);
      if (state == State::failed) failed.push_back(id);
    }
    REQUIRE(table.unacknowledged() == unacknowledged);
    REQUIRE(table.span() == next - oldest);
    REQUIRE(table.read() == next - 1);
    REQUIRE(table.failed_ids() == failed);
  }
}

TEST_CASE("ring buffer: first in, first out across blocks, emptied blocks reused") {
  zpipe::RingBuffer<std::string, 4> ring;  // blocks of 4: every path is taken often
  std::deque<std::string> model;  // what it must hold, in order
  std::uint64_t next = 0;
  // Pushes outrun pops, so it grows while its head sits mid-block.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3; ++i) {
      ring.push_back("item " + std::to_string(next));
      model.push_back("item " + std::to_string(next++));
    }
    for (int i = 0; i < 2; ++i) {
      REQUIRE(ring.front() == model.front());
      ring.pop_front();
      model.pop_front();
    }
    REQUIRE(ring.size() == model.size());
    for (std::size_t i = 0; i < model.size(); ++i) REQUIRE(ring[i] == model[i]);
  }
  while (!model.empty()) {
    REQUIRE(ring.front() == model.front());
    ring.pop_front();
    model.pop_front();
  }
  CHECK(ring.empty());
}
