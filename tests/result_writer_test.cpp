// The sink's output formats, byte for byte, including values that need
// escaping.
#include <catch2/catch.hpp>

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
