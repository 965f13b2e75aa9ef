// Task sources: counts, lines of files, over-long lines, pipes that are slow.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/process.hpp"
#include "task_source.hpp"

using zpipe::SourceTask;
using zpipe::Value;

namespace {
std::vector<SourceTask> drain(zpipe::TaskSource& source) {
  std::vector<SourceTask> tasks;
  for (int guard = 0; guard < 100000 && !source.exhausted(); ++guard)
    while (auto task = source.next()) tasks.push_back(std::move(*task));
  return tasks;
}
}  // namespace

TEST_CASE("a count source yields 1..N and knows its total") {
  auto source = zpipe::count_source(3);
  CHECK(source->known_total() == 3);
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[0].payload == Value{std::int64_t{1}});
  CHECK(tasks[2].payload == Value{std::int64_t{3}});
}

TEST_CASE("a line source yields each line, with or without a final newline") {
  auto text = GENERATE(std::string("a\nbb\r\n\nlast"), std::string("a\nbb\r\n\nlast\n"));
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", text);
  auto source = zpipe::line_source((dir / "in").string(), 100);
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 4);
  CHECK(tasks[0].payload == Value{std::string("a")});
  CHECK(tasks[1].payload == Value{std::string("bb")});
  CHECK(tasks[2].payload == Value{std::string("")});
  CHECK(tasks[3].payload == Value{std::string("last")});
}

TEST_CASE("a line longer than the limit becomes one failed task, and its neighbours are intact") {
  auto [length, at_end] = GENERATE(table<std::size_t, bool>({{11, false}, {1000000, false}, {11, true}, {300000, true}}));
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", "x\n" + std::string(length, 'y') + (at_end ? "" : "\nz\n"));
  auto source = zpipe::line_source((dir / "in").string(), 10);
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == (at_end ? 2u : 3u));
  CHECK(tasks[0].payload == Value{std::string("x")});
  CHECK_THAT(tasks[1].error, Catch::Contains("line 2") && Catch::Contains("longer than 10 bytes"));
  if (!at_end) CHECK(tasks[2].payload == Value{std::string("z")});
}

TEST_CASE("a line of exactly the limit is a task") {
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", std::string(10, 'y') + "\n");
  auto source = zpipe::line_source((dir / "in").string(), 10);
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].error.empty());
}

TEST_CASE("a pipe with nothing to read yet does not block") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::dup2(fds[0], STDIN_FILENO) >= 0);
  auto source = zpipe::line_source("-", 100);
  CHECK_FALSE(source->next().has_value());
  CHECK_FALSE(source->exhausted());
  REQUIRE(::write(fds[1], "7\n", 2) == 2);
  ::close(fds[1]);
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].payload == Value{std::string("7")});
  ::close(fds[0]);
}
