// The three programs allocate per message, never per task: a counting
// allocator (support/count_allocations.cpp, preloaded into each program)
// counts every allocation of a job of N tasks and of one of 4N, and the
// difference over the 3N tasks more is what each task costs. Per-frame and
// per-message allocations (a decoded frame's vectors, libzmq's buffer for a
// message over 33 bytes) are spread over the tasks of the frame, or of the
// bundle at batch 1 (up to 64 tasks, PROTOCOL.md 6.2.10); an allocation per
// task (a std::deque block per few tasks, a string per line) shows as 0.1
// or more.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "support/job_run.hpp"

using namespace std::chrono_literals;
using namespace zpipe::testing;

#ifndef ZPIPE_SANITIZED  // a sanitizer's runtime must come first: nothing is preloaded before it

namespace {

// Sets an environment variable for the programs started while it lives.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

// Allocations of each program over a whole job of `tasks` tasks at `batch`.
std::map<std::string, double> allocations_of_job(std::uint64_t tasks, std::uint32_t batch) {
  JobRun run;
  const auto counts = run.dir / "allocations";
  {
    ScopedEnv preload("LD_PRELOAD", ZPIPE_COUNT_ALLOCATIONS);
    ScopedEnv to("ZPIPE_COUNT_ALLOCATIONS_TO", counts.string());
    auto& sink = run.sink();
    auto& ventilator = run.ventilator({"--count", std::to_string(tasks), "--batch", std::to_string(batch)});
    auto& worker = run.worker();
    REQUIRE(sink.wait_for(job_limit) == 0);
    REQUIRE(ventilator.wait_for(10s) == 0);
    REQUIRE(worker.wait_for(10s) == 0);
  }
  REQUIRE(run.results().size() == tasks);
  std::map<std::string, double> by_program;
  std::ifstream in(counts);
  std::string program;
  double allocations = 0;
  while (in >> program >> allocations) by_program[program] += allocations;
  REQUIRE(by_program.size() == 3);
  return by_program;
}

}  // namespace

TEST_CASE("the programs allocate per frame and per message, never per task", "[allocations]") {
  const auto [batch, per_task_at_most] = GENERATE(table<std::uint32_t, double>({{1024, 0.01}, {1, 0.1}}));
  CAPTURE(batch);
  constexpr std::uint64_t tasks = 100'000;
  const auto small = allocations_of_job(tasks, batch);
  const auto large = allocations_of_job(4 * tasks, batch);
  for (const char* program : {"zpipe-ventilator", "zpipe-worker", "zpipe-sink"}) {
    const double per_task = (large.at(program) - small.at(program)) / (3 * tasks);
    CAPTURE(program, small.at(program), large.at(program), per_task);
    CHECK(per_task < per_task_at_most);
  }
}

#endif
