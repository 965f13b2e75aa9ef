// The sink's --joblog lines, in GNU parallel's columns, byte for byte.
#include <catch2/catch.hpp>

#include "task_files.hpp"

using zpipe::Result;
using zpipe::Value;

namespace {
std::string joblog_line(const Result& result) {
  std::string line;
  zpipe::append_joblog_line(line, result, "w:1");
  return line;
}

Value exec(std::int64_t exit_code, std::int64_t signal, std::string command) {
  zpipe::ExecRecord record;
  record.exit_code = exit_code;
  record.signal = signal;
  record.out = "hi\n";
  record.started_us = 1764046800123456;
  record.duration_us = 81234;
  record.host = "h1";
  record.command = std::move(command);
  return zpipe::ExecValue(std::move(record));
}
}  // namespace

TEST_CASE("a joblog line has parallel's nine columns, its widths and its exit value and signal") {
  CHECK(joblog_line({7, true, exec(0, 0, "echo hi")}) == "7\th1\t1764046800.123\t     0.081\t0\t3\t0\t0\techo hi\n");
  CHECK(joblog_line({8, false, exec(3, 0, "exit 3")}) == "8\th1\t1764046800.123\t     0.081\t0\t3\t3\t0\texit 3\n");
  CHECK(joblog_line({9, false, exec(-1, 9, "kill -9 $$")}) == "9\th1\t1764046800.123\t     0.081\t0\t3\t0\t9\tkill -9 $$\n");
}

TEST_CASE("a joblog line keeps its columns whatever the command holds, and for other kinds") {
  CHECK(joblog_line({1, true, exec(0, 0, "printf 'a\tb'\necho c")}) ==
        "1\th1\t1764046800.123\t     0.081\t0\t3\t0\t0\tprintf 'a b' echo c\n");
  CHECK(joblog_line({2, true, Value{std::int64_t{4}}}) == "2\tw:1\t0.000\t     0.000\t0\t0\t0\t0\t\n");
  CHECK(joblog_line({3, false, Value{std::string("boom")}}) == "3\tw:1\t0.000\t     0.000\t0\t0\t1\t0\t\n");
}
