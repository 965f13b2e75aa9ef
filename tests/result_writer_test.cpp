// The sink's output formats, byte for byte, including values that need
// escaping.
#include <catch2/catch.hpp>

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
        "task_id,status,result,error,worker\n"
        "1,ok,\"a,b\",,\"w,2\"\n"
        "2,error,,\"say \"\"no\"\"\",\"w,2\"\n");
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
