// WorkerPool: workers by routing id in reusable slots, their credits, who is
// silent, and who is dealt next.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "zpipe/messages.hpp"
#include "zpipe/worker_pool.hpp"

namespace {

using zpipe::WorkerPool;
using zpipe::WorkerState;
using namespace std::chrono_literals;

const WorkerPool::Clock::time_point t0{};

}  // namespace

TEST_CASE("worker pool: hello gives a slot and the window as credits", "[worker_pool]") {
  WorkerPool pool;
  CHECK(pool.hello("a", "alpha", 4, t0) == 0);
  CHECK(pool.hello("b", "beta", 8, t0) == 1);
  CHECK(pool.alive() == 2);
  REQUIRE(pool.find("a") == 0u);
  REQUIRE(pool.find("b") == 1u);
  CHECK_FALSE(pool.find("c"));

  const WorkerState& b = pool.at(1);
  CHECK(b.routing_id == "b");
  CHECK(b.name == "beta");
  CHECK(b.credits == 8);
  CHECK(b.weight == 8);
  CHECK(b.alive);
  CHECK(b.tasks_held == 0);
  CHECK_FALSE(b.isolating);
}

TEST_CASE("worker pool: a window is capped, and a window of 0 still weighs 1", "[worker_pool]") {
  const auto [window, credits, weight] = GENERATE(table<std::uint32_t, std::uint32_t, std::uint32_t>({
      {0, 0, 1},
      {1, 1, 1},
      {zpipe::max_window_frames, zpipe::max_window_frames, zpipe::max_window_frames},
      {zpipe::max_window_frames + 1, zpipe::max_window_frames, zpipe::max_window_frames},
      {~std::uint32_t{0}, zpipe::max_window_frames, zpipe::max_window_frames},
  }));
  WorkerPool pool;
  const auto slot = pool.hello("w", "w", window, t0);
  CHECK(pool.at(slot).credits == credits);
  CHECK(pool.at(slot).weight == weight);
}

TEST_CASE("worker pool: a second hello keeps the slot and starts the worker again", "[worker_pool]") {
  WorkerPool pool;
  pool.hello("a", "alpha", 4, t0);
  const auto slot = pool.hello("b", "beta", 2, t0);
  pool.at(slot).tasks_held = 5;
  pool.at(slot).isolating = true;
  REQUIRE(pool.credit("b", 3, t0));

  CHECK(pool.hello("b", "beta again", 6, t0 + 1s) == slot);
  CHECK(pool.alive() == 2);
  CHECK(pool.slots().size() == 2);
  const WorkerState& b = pool.at(slot);
  CHECK(b.credits == 6);  // its new window, not 2 + 3 + 6
  CHECK(b.weight == 6);
  CHECK(b.tasks_held == 0);
  CHECK_FALSE(b.isolating);
  CHECK(b.name == "beta again");
  CHECK(b.last_heard == t0 + 1s);
}

TEST_CASE("worker pool: credits add up and are capped at max_window_frames", "[worker_pool]") {
  constexpr auto cap = zpipe::max_window_frames;
  const auto [window, added, credits] = GENERATE_COPY(table<std::uint32_t, std::uint32_t, std::uint32_t>({
      {2, 0, 2},
      {2, 3, 5},
      {cap - 1, 1, cap},
      {cap - 1, 5, cap},
      {cap, cap, cap},
      {0, ~std::uint32_t{0}, cap},  // no wrap-around
      {10, ~std::uint32_t{0} - 5, cap},
  }));
  CAPTURE(window, added);
  WorkerPool pool;
  const auto slot = pool.hello("w", "w", window, t0);
  REQUIRE(pool.credit("w", added, t0 + 5s));
  CHECK(pool.at(slot).credits == credits);
  CHECK(pool.at(slot).last_heard == t0 + 5s);
}

TEST_CASE("worker pool: credit from an unknown or removed worker is refused", "[worker_pool]") {
  WorkerPool pool;
  CHECK_FALSE(pool.credit("nobody", 1, t0));
  const auto slot = pool.hello("w", "w", 1, t0);
  pool.remove(slot);
  CHECK_FALSE(pool.credit("w", 1, t0));
  CHECK_FALSE(pool.find("w"));
  CHECK(pool.alive() == 0);
  CHECK_FALSE(pool.at(slot).alive);
}

TEST_CASE("worker pool: removed slots are reused, so memory follows live workers", "[worker_pool]") {
  WorkerPool pool;
  pool.hello("stays", "stays", 1, t0);
  for (int i = 0; i < 10'000; ++i) {
    const std::string id = "worker-" + std::to_string(i);
    const auto slot = pool.hello(id, id, 2, t0);
    REQUIRE(pool.find(id) == slot);
    pool.remove(slot);
    pool.remove(slot);  // twice is harmless: the slot is not freed twice
  }
  CHECK(pool.slots().size() <= 2);
  CHECK(pool.alive() == 1);
  CHECK(pool.find("stays") == 0u);

  // Two frees of one slot would hand it to two workers.
  const auto a = pool.hello("a", "a", 1, t0);
  const auto b = pool.hello("b", "b", 1, t0);
  CHECK(a != b);
  CHECK(pool.at(a).routing_id == "a");
  CHECK(pool.at(b).routing_id == "b");
}

TEST_CASE("worker pool: silent lists live workers past the timeout in slot order", "[worker_pool]") {
  WorkerPool pool;
  // Routing ids in an order unlike the slots', so a hash map's order shows.
  const std::vector<std::string> ids{"zeta", "alpha", "mu", "beta", "omega", "kappa", "delta", "pi"};
  for (const auto& id : ids) pool.hello(id, id, 1, t0);
  pool.credit("mu", 0, t0 + 2s);     // heard since: not silent
  pool.credit("omega", 1, t0 + 2s);
  pool.remove(*pool.find("beta"));   // gone: not listed

  CHECK(pool.silent(t0 + 999ms, 1s).empty());
  CHECK(pool.silent(t0 + 1s, 1s) == std::vector<std::uint32_t>{0, 1, 5, 6, 7});
  CHECK(pool.silent(t0 + 3s, 1s) == std::vector<std::uint32_t>{0, 1, 2, 4, 5, 6, 7});
}

TEST_CASE("worker pool: with no total known, workers with credit are dealt in turn", "[worker_pool]") {
  WorkerPool pool;
  pool.hello("a", "a", 1, t0);
  pool.hello("b", "b", 0, t0);  // no credit
  pool.hello("c", "c", 5, t0);
  pool.hello("d", "d", 5, t0);
  pool.hello("e", "e", 5, t0);
  pool.at(3).isolating = true;  // runs a suspect alone
  pool.remove(4);

  std::vector<std::string> dealt;
  for (int i = 0; i < 6; ++i) {
    WorkerState* worker = pool.next_to_deal(std::nullopt);
    REQUIRE(worker != nullptr);
    dealt.push_back(worker->routing_id);
  }
  CHECK(dealt == std::vector<std::string>{"a", "c", "a", "c", "a", "c"});

  pool.at(0).credits = 0;
  pool.at(2).credits = 0;
  CHECK(pool.next_to_deal(std::nullopt) == nullptr);
  CHECK(WorkerPool{}.next_to_deal(std::nullopt) == nullptr);
  CHECK(WorkerPool{}.next_to_deal(10) == nullptr);
}

TEST_CASE("worker pool: a worker holding its share of the remaining tasks is skipped", "[worker_pool]") {
  // Windows 1 and 3: a quarter and three quarters of what remains, plus one.
  struct Row {
    std::uint64_t remaining, held_a, held_b;
    const char* dealt;  // nullptr: nobody
  };
  const auto row = GENERATE(values<Row>({
      {8, 0, 0, "a"},
      {8, 2, 0, "a"},
      {8, 3, 0, "b"},   // a's share is 8/4 + 1 = 3
      {8, 3, 6, "b"},
      {8, 3, 7, nullptr},  // b's share is 8*3/4 + 1 = 7
      {0, 0, 0, "a"},    // the last tasks: one each
      {0, 1, 0, "b"},
      {0, 1, 1, nullptr},
      {3, 0, 0, "a"},   // a: 3*1/4 rounds down to 0, + 1
      {3, 1, 0, "b"},
      {3, 1, 3, nullptr},  // b: 3*3/4 rounds down to 2, + 1
  }));
  CAPTURE(row.remaining, row.held_a, row.held_b);
  WorkerPool pool;
  pool.hello("a", "a", 1, t0);
  pool.hello("b", "b", 3, t0);
  pool.at(0).tasks_held = row.held_a;
  pool.at(1).tasks_held = row.held_b;
  WorkerState* worker = pool.next_to_deal(row.remaining);
  if (row.dealt == nullptr) {
    CHECK(worker == nullptr);
  } else {
    REQUIRE(worker != nullptr);
    CHECK(worker->routing_id == row.dealt);
  }
}

TEST_CASE("worker pool: the remaining tasks are split by weight", "[worker_pool]") {
  struct Row {
    std::uint64_t remaining;
    std::vector<std::uint32_t> windows;
  };
  const auto row = GENERATE(values<Row>({
      {12, {1, 2, 3}},
      {100, {1, 1}},
      {100, {4, 1, 16}},
      {7, {3, 3, 3}},
      {1000, {64, 2}},
  }));
  CAPTURE(row.remaining, row.windows);
  WorkerPool pool;
  std::uint64_t total_weight = 0;
  for (std::size_t i = 0; i < row.windows.size(); ++i) {
    pool.hello(std::to_string(i), "w", row.windows[i], t0);
    pool.at(static_cast<std::uint32_t>(i)).credits = zpipe::max_window_frames;  // credits are not the limit
    total_weight += row.windows[i];
  }
  for (int deals = 0;; ++deals) {
    REQUIRE(deals <= 10'000);
    WorkerState* worker = pool.next_to_deal(row.remaining);
    if (worker == nullptr) break;
    ++worker->tasks_held;
  }
  for (std::size_t i = 0; i < row.windows.size(); ++i) {
    CAPTURE(i);
    // Everyone ends with its share: remaining * weight / total, plus one.
    CHECK(pool.at(static_cast<std::uint32_t>(i)).tasks_held == row.remaining * row.windows[i] / total_weight + 1);
  }
}

TEST_CASE("worker pool: shares follow the live workers' weights", "[worker_pool]") {
  WorkerPool pool;
  pool.hello("a", "a", 1, t0);
  pool.hello("big", "big", 9, t0);
  pool.at(0).tasks_held = 1;
  // With big alive, a's share of 10 is 10/10 + 1 = 2.
  REQUIRE(pool.next_to_deal(10) != nullptr);
  pool.at(0).tasks_held = 2;
  pool.at(1).credits = 0;
  CHECK(pool.next_to_deal(10) == nullptr);
  // Once big is gone, a may hold all 10 and one more.
  pool.remove(1);
  WorkerState* worker = pool.next_to_deal(10);
  REQUIRE(worker != nullptr);
  CHECK(worker->routing_id == "a");
  // A new hello of a known worker replaces its weight rather than adding
  // to it: the total weight is 2, not 4, so a's share is 10/2 + 1 = 6.
  pool.hello("a", "a", 1, t0);
  const auto c = pool.hello("c", "c", 1, t0);
  pool.hello("c", "c", 1, t0);
  pool.at(c).credits = 0;
  pool.at(0).tasks_held = 5;
  worker = pool.next_to_deal(10);
  REQUIRE(worker != nullptr);
  CHECK(worker->routing_id == "a");
  pool.at(0).tasks_held = 6;
  CHECK(pool.next_to_deal(10) == nullptr);
}

TEST_CASE("worker pool: idle_worker is a live worker with credit that holds nothing", "[worker_pool]") {
  WorkerPool pool;
  CHECK(pool.idle_worker() == nullptr);
  pool.hello("busy", "busy", 4, t0);
  pool.hello("broke", "broke", 0, t0);
  pool.hello("gone", "gone", 4, t0);
  pool.at(0).tasks_held = 1;
  pool.remove(2);
  CHECK(pool.idle_worker() == nullptr);
  pool.hello("free", "free", 1, t0);  // takes slot 2
  WorkerState* worker = pool.idle_worker();
  REQUIRE(worker != nullptr);
  CHECK(worker->routing_id == "free");
  CHECK(pool.slot_of(*worker) == 2);
}

TEST_CASE("worker pool: names are capped and made printable", "[worker_pool]") {
  const std::string long_name(200, 'n');
  const auto [given, shown] = GENERATE_COPY(table<std::string, std::string>({
      {"host:42", "host:42"},
      {"", ""},
      {std::string("a\nb\rc\td\x1b[31m"), "a?b?c?d?[31m"},
      {std::string("nul\0here", 8), "nul?here"},
      {"caf\xc3\xa9", "caf??"},
      {"\x7f", "?"},
      {long_name, std::string(WorkerPool::max_name_bytes, 'n') + "..."},
      {std::string(WorkerPool::max_name_bytes, 'x'), std::string(WorkerPool::max_name_bytes, 'x')},
  }));
  CAPTURE(given);
  WorkerPool pool;
  const auto slot = pool.hello("r", given, 1, t0);
  CHECK(pool.at(slot).name == shown);
}

// The ventilator asks for the next worker after every event; with ten
// thousand workers that have spent their credits, a scan over all of them
// would cost ten thousand looks per frame. The ready queue looks only at
// workers that got a credit since: a handful of looks per deal.
TEST_CASE("worker pool: choosing a worker costs the same with 10 or 10,000 workers", "[worker_pool]") {
  const auto workers = GENERATE(10u, 10'000u);
  CAPTURE(workers);
  WorkerPool pool;
  for (std::uint32_t i = 0; i < workers; ++i) pool.hello(std::to_string(i), "w", 1, t0);
  // Everyone spends its one credit (their first deals).
  for (std::uint32_t i = 0; i < workers; ++i) {
    WorkerState* worker = pool.next_to_deal(std::nullopt);
    REQUIRE(worker != nullptr);
    --worker->credits;
    ++worker->tasks_held;
  }
  REQUIRE(pool.next_to_deal(std::nullopt) == nullptr);
  // Then credits come back one at a time, in no particular order, and each
  // is dealt against; between credits the core asks again and finds nobody.
  const std::uint64_t before = pool.looked_at();
  constexpr int deals = 20'000;
  std::map<std::string, int> dealt;
  for (int i = 0; i < deals; ++i) {
    const std::uint32_t slot = static_cast<std::uint32_t>((i * 7919u) % workers);
    REQUIRE(pool.credit(pool.at(slot).routing_id, 1, t0));
    WorkerState* worker = pool.next_to_deal(1'000'000);
    REQUIRE(worker != nullptr);
    CHECK(pool.slot_of(*worker) == slot);
    --worker->credits;
    ++dealt[worker->routing_id];
    CHECK(pool.next_to_deal(1'000'000) == nullptr);
  }
  const double looks_per_deal = static_cast<double>(pool.looked_at() - before) / deals;
  CAPTURE(looks_per_deal);
  CHECK(looks_per_deal <= 3.0);
  CHECK(dealt.size() == std::min<std::size_t>(workers, deals));
}

TEST_CASE("worker pool: a worker parked at its share is dealt again once it holds less", "[worker_pool]") {
  WorkerPool pool;
  pool.hello("a", "a", 4, t0);
  pool.hello("b", "b", 4, t0);
  pool.at(0).tasks_held = 6;  // a's share of 10 is 10/2 + 1 = 6
  WorkerState* worker = pool.next_to_deal(10);
  REQUIRE(worker != nullptr);
  CHECK(worker->routing_id == "b");
  pool.at(1).credits = 0;
  CHECK(pool.next_to_deal(10) == nullptr);
  // An acknowledgement: a holds 5, and the core says so.
  pool.at(0).tasks_held = 5;
  pool.may_be_ready(0);
  worker = pool.next_to_deal(10);
  REQUIRE(worker != nullptr);
  CHECK(worker->routing_id == "a");
}

TEST_CASE("worker pool: a stalled worker is dealt to only when every worker is stalled", "[worker_pool]") {
  WorkerPool pool;
  pool.hello("a", "a", 4, t0);
  pool.hello("b", "b", 4, t0);
  pool.set_stalled(0, true);
  pool.at(1).credits = 0;
  CHECK(pool.next_to_deal(std::nullopt) == nullptr);
  CHECK(pool.idle_worker() == nullptr);
  pool.set_stalled(1, true);  // now all are: a is dealt to again
  WorkerState* worker = pool.next_to_deal(std::nullopt);
  REQUIRE(worker != nullptr);
  CHECK(worker->routing_id == "a");
  REQUIRE(pool.idle_worker() != nullptr);
  pool.set_stalled(1, false);  // b delivers: a is passed over again
  CHECK(pool.next_to_deal(std::nullopt) == nullptr);
}

TEST_CASE("worker pool: a retry avoids the worker that failed it while another is ready", "[worker_pool]") {
  WorkerPool pool;
  pool.hello("a", "a", 4, t0);
  pool.hello("b", "b", 4, t0);
  for (int i = 0; i < 4; ++i) {
    WorkerState* worker = pool.next_to_deal(std::nullopt, ~std::uint64_t{0}, 0);
    REQUIRE(worker != nullptr);
    CHECK(worker->routing_id == "b");
  }
  pool.at(1).credits = 0;
  WorkerState* worker = pool.next_to_deal(std::nullopt, ~std::uint64_t{0}, 0);
  REQUIRE(worker != nullptr);
  CHECK(worker->routing_id == "a");  // no other is ready
}

TEST_CASE("worker pool: workers that list the same kinds share one list", "[worker_pool]") {
  WorkerPool pool;
  const std::vector<std::string> kinds{"square", "primes"};
  const auto a = pool.hello("a", "a", 1, t0, true, kinds);
  const auto b = pool.hello("b", "b", 1, t0, true, kinds);
  const auto c = pool.hello("c", "c", 1, t0, false, {"upper"});
  CHECK(pool.at(a).kinds == pool.at(b).kinds);
  CHECK(*pool.at(a).kinds == kinds);
  CHECK(*pool.at(c).kinds == std::vector<std::string>{"upper"});
  CHECK(pool.kinds_listed() == "primes, square, upper");
}
