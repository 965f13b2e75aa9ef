// The sink's output formats, byte for byte, including values that need
// escaping.
#include <catch2/catch.hpp>
#include <limits>

#include <cstdio>

#include "zpipe/result_writer.hpp"

using zpipe::OutputFormat;
using zpipe::Result;
using zpipe::Value;

namespace {
std::string written(OutputFormat format, const std::vector<Result>& results, const std::string& worker = "w:1") {
  zpipe::ResultWriter writer(format);
  for (const auto& result : results) writer.write(result, worker);
  return writer.buffer();
}
}  // namespace

TEST_CASE("text output is for people") {
  CHECK(written(OutputFormat::text, {{1, true, Value{std::int64_t{-9}}}, {2, false, Value{std::string("boom")}}}) ==
        "task 1: -9\ntask 2 FAILED: boom\n");
  // The longest line of a number: every digit of the largest id and of the lowest value.
  CHECK(written(OutputFormat::text, {{~std::uint64_t{0}, false, Value{std::numeric_limits<std::int64_t>::min()}}}) ==
        "task 18446744073709551615 FAILED: -9223372036854775808\n");
}

TEST_CASE("ids one after another, across every carry, print as ids written anew do") {
  // The writer counts up the last id's digits when the next id follows it;
  // any other id is formatted afresh. Runs cross 9, 99, 999, 1099, 8 to 9
  // digits (where counting up gives way to writing afresh), 9 to 10, and
  // the last 64-bit ids; jumps go back and forward between them.
  std::vector<Result> results;
  std::string expected;
  const auto add = [&](std::uint64_t id) {
    results.push_back({id, true, Value{std::int64_t{1}}});
    expected += "task " + std::to_string(id) + ": 1\n";
  };
  for (const std::uint64_t start : {std::uint64_t{1}, std::uint64_t{95}, std::uint64_t{7}, std::uint64_t{995},
                                    std::uint64_t{99'999}, std::uint64_t{1'099}, std::uint64_t{99'999'995},
                                    std::uint64_t{9'999'995}, std::uint64_t{999'999'995}, ~std::uint64_t{0} - 3,
                                    std::uint64_t{9}})
    for (std::uint64_t k = 0; k < 8 && start + k >= start; ++k) add(start + k);  // stops at the largest id
  add(3);  // back, then on from there
  add(4);
  CHECK(written(OutputFormat::text, results) == expected);
  std::string csv = written(OutputFormat::csv, results);
  CHECK(csv.find("\n1000,ok,1,") != std::string::npos);
}

TEST_CASE("long runs of ids one after another print as ids written anew do, every carry of up to 8 digits included") {
  std::vector<Result> results;
  std::string expected;
  for (const auto& [first, last] : {std::pair<std::uint64_t, std::uint64_t>{1, 120'000}, {99'990'000, 100'010'000}})
    for (std::uint64_t id = first; id <= last; ++id) {
      results.push_back({id, true, Value{std::int64_t{0}}});
      expected += "task " + std::to_string(id) + ": 0\n";
    }
  CHECK(written(OutputFormat::text, results) == expected);
}

TEST_CASE("text lines of numbers and of words keep their order, over many staging areas' worth") {
  // Number lines are formatted in a staging area and words go straight to
  // the buffer: every line must still come out in the order written.
  std::vector<Result> results;
  std::string expected;
  for (std::uint64_t id = 1; id <= 5000; ++id) {
    if (id % 333 == 0) {
      results.push_back({id, false, Value{std::string("boom")}});
      expected += "task " + std::to_string(id) + " FAILED: boom\n";
    } else {
      const auto value = static_cast<std::int64_t>(id * id) * (id % 2 == 0 ? 1 : -1);
      results.push_back({id, true, Value{value}});
      expected += "task " + std::to_string(id) + ": " + std::to_string(value) + "\n";
    }
  }
  CHECK(written(OutputFormat::text, results) == expected);
}

TEST_CASE("jsonl output has one object per task") {
  CHECK(written(OutputFormat::jsonl, {{3, true, Value{std::int64_t{9}}}}) ==
        "{\"task_id\":3,\"status\":\"ok\",\"result\":9,\"error\":null,\"worker\":\"w:1\"}\n");
  CHECK(written(OutputFormat::jsonl, {{4, false, Value{std::string("bad \"x\"\n")}}}) ==
        "{\"task_id\":4,\"status\":\"error\",\"result\":null,\"error\":\"bad \\\"x\\\"\\n\",\"worker\":\"w:1\"}\n");
  CHECK(written(OutputFormat::jsonl, {{5, true, Value{}}}) ==
        "{\"task_id\":5,\"status\":\"ok\",\"result\":null,\"error\":null,\"worker\":\"w:1\"}\n");
}

TEST_CASE("jsonl output is valid UTF-8 whatever bytes a result holds") {
  auto [bytes, json] = GENERATE(table<std::string, std::string>({
      {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
      {"\xff", "\"\\ufffd\""},
      {"\xc3", "\"\\ufffd\""},
      {"\x01", "\"\\u0001\""},
      {"\xe2\x82\xac!", "\"\xe2\x82\xac!\""},
  }));
  const std::string line = written(OutputFormat::jsonl, {{1, true, Value{bytes}}});
  CHECK_THAT(line, Catch::Contains("\"result\":" + json + ","));
}

TEST_CASE("csv output has a header and quotes what needs quoting") {
  CHECK(written(OutputFormat::csv, {{1, true, Value{std::string("a,b")}}, {2, false, Value{std::string("say \"no\"")}}},
                "w,2") ==
        "task_id,status,result,error,worker,exit,signal,stderr,truncated,start,duration,host\n"
        "1,ok,\"a,b\",,\"w,2\",,,,,,,\n"
        "2,error,,\"say \"\"no\"\"\",\"w,2\",,,,,,,\n");
}

// ---- exec records (issue 9) -------------------------------------------------

namespace {
Value exec(std::int64_t exit_code, std::int64_t signal, std::string out, std::string err, std::string error = "") {
  zpipe::ExecRecord record;
  record.exit_code = exit_code;
  record.signal = signal;
  record.out = std::move(out);
  record.err = std::move(err);
  record.started_us = 1764046800123456;
  record.duration_us = 81234;
  record.host = "h1";
  record.error = std::move(error);
  return zpipe::ExecValue(std::move(record));
}
}  // namespace

TEST_CASE("text output keeps an exec task on one line, its streams escaped so every byte can be told apart") {
  CHECK(written(OutputFormat::text, {{1, true, exec(0, 0, "line 1\nline 2\n", "")}}) ==
        "task 1: \"line 1\\nline 2\\n\"\n");
  CHECK(written(OutputFormat::text, {{2, true, exec(0, 0, "\xff", "")}, {3, true, exec(0, 0, "\\xff", "")}}) ==
        "task 2: \"\\xff\"\ntask 3: \"\\\\xff\"\n");
  CHECK(written(OutputFormat::text, {{4, false, exec(1, 0, "out\n", "err\n", "exit status 1")}}) ==
        "task 4 FAILED: exit status 1; stdout \"out\\n\" stderr \"err\\n\"\n");
  CHECK(written(OutputFormat::text, {{5, true, exec(0, 0, "caf\xc3\xa9 \"q\"", "warn\n")}}) ==
        "task 5: \"caf\xc3\xa9 \\\"q\\\"\" stderr \"warn\\n\"\n");
}

TEST_CASE("jsonl output of an exec task keeps both streams, as text when UTF-8 and as base64 otherwise") {
  CHECK(written(OutputFormat::jsonl, {{1, false, exec(1, 0, "out\n", "err\n", "exit status 1")}}) ==
        "{\"task_id\":1,\"status\":\"error\",\"result\":\"out\\n\",\"error\":\"exit status 1\",\"worker\":\"w:1\","
        "\"host\":\"h1\",\"exit\":1,\"signal\":null,\"stdout\":\"out\\n\",\"stderr\":\"err\\n\","
        "\"stdout_truncated\":false,\"stderr_truncated\":false,\"start\":1764046800.123,\"duration\":0.081,\"input\":null}\n");
  const std::string binary = written(OutputFormat::jsonl, {{2, true, exec(0, 0, "\xff", "")}});
  CHECK_THAT(binary, Catch::Contains("\"result\":null,") && Catch::Contains("\"stdout\":null,\"stdout_base64\":\"/w==\",") &&
                         Catch::Contains("\"stderr\":\"\","));
  const std::string text = written(OutputFormat::jsonl, {{3, true, exec(0, 0, "\\xff", "")}});
  CHECK_THAT(text, Catch::Contains("\"stdout\":\"\\\\xff\",") && !Catch::Contains("base64"));
  const std::string killed = written(OutputFormat::jsonl, {{4, false, exec(-1, 9, "", "", "killed by signal 9 (SIGKILL)")}});
  CHECK_THAT(killed, Catch::Contains("\"exit\":null,\"signal\":9,"));
}

TEST_CASE("an exec task's command is its input: jsonl's input field, and --tag's prefix in text") {
  Value value = exec(0, 0, "hi\n", "");
  zpipe::ExecRecord record = *std::get<zpipe::ExecValue>(value);
  record.command = "echo 'a\tb'";
  const Value tagged = zpipe::ExecValue(record);
  CHECK_THAT(written(OutputFormat::jsonl, {{1, true, tagged}}), Catch::EndsWith(",\"input\":\"echo 'a\\tb'\"}\n"));
  record.command = "printf '\xff'";
  CHECK_THAT(written(OutputFormat::jsonl, {{1, true, zpipe::ExecValue(record)}}),
             Catch::EndsWith(",\"input\":null,\"input_base64\":\"cHJpbnRmICf/Jw==\"}\n"));
  zpipe::ResultWriter writer(OutputFormat::text, true);
  writer.write({1, true, tagged}, "w");
  writer.write({2, true, Value{std::int64_t{4}}}, "w");
  CHECK(writer.buffer() == "echo 'a\\tb'\ttask 1: \"hi\\n\"\n\ttask 2: 4\n");
}

TEST_CASE("base64 in jsonl pads as RFC 4648 does") {
  auto [bytes, encoded] = GENERATE(table<std::string, std::string>({
      {std::string("\xff\xfe", 2), "//4="},
      {std::string("\xff\xfe\xfd", 3), "//79"},
      {std::string("\xff" "ab\x00", 4), "/2FiAA=="},
  }));
  CHECK_THAT(written(OutputFormat::jsonl, {{1, true, exec(0, 0, bytes, "")}}),
             Catch::Contains("\"stdout_base64\":\"" + encoded + "\""));
}

TEST_CASE("csv output of an exec task fills the exec columns, stderr escaped") {
  CHECK(written(OutputFormat::csv, {{1, false, exec(2, 0, "a,b\n", "e\xff\n", "exit status 2")}}) ==
        "task_id,status,result,error,worker,exit,signal,stderr,truncated,start,duration,host\n"
        "1,error,\"a,b\\n\",exit status 2,w:1,2,,e\\xff\\n,,1764046800.123,0.081,h1\n");
}

// For programs (the Python binding): [task_id, ok, value, worker] per result,
// in msgpack's smallest forms, records back to back.
TEST_CASE("msgpack output is one canonical array per result") {
  auto [result, hex] = GENERATE(table<Result, std::string>({
      {{1, true, Value{std::int64_t{25}}}, "94 01 c3 19 a3 77 3a 31"},
      {{300, true, Value{std::int64_t{-33}}}, "94 cd 01 2c c3 d0 df a3 77 3a 31"},
      {{70000, true, Value{}}, "94 ce 00 01 11 70 c3 c0 a3 77 3a 31"},
      {{5000000000ULL, true, Value{std::int64_t{-9223372036854775807LL - 1}}},
       "94 cf 00 00 00 01 2a 05 f2 00 c3 d3 80 00 00 00 00 00 00 00 a3 77 3a 31"},
      {{2, false, Value{std::string(32, 'x')}},
       "94 02 c2 d9 20 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 78 "
       "a3 77 3a 31"},
      {{3, true, Value{std::int64_t{4294967296LL}}}, "94 03 c3 cf 00 00 00 01 00 00 00 00 a3 77 3a 31"},
  }));
  const std::string bytes = written(OutputFormat::msgpack, {result});
  std::string got;
  for (const char c : bytes) {
    char pair[4];
    std::snprintf(pair, sizeof pair, "%02x ", static_cast<unsigned char>(c));
    got += pair;
  }
  got.pop_back();
  CHECK(got == hex);
}
