// zpipe-sink --keep-order through the real programs: results in input order
// whatever order workers finish them in, in every --format and in the
// joblog; the reorder buffer's bound on what the sink holds and on what the
// ventilator deals while an early task is slow; and order kept across a
// worker killed mid-job and a sink restarted from its journal.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "support/job_run.hpp"
#include "support/prometheus_text.hpp"

using namespace zpipe::testing;

namespace {

// The task id each output line names, in order: jsonl's task_id, csv's first
// column (after its header), text's "task N" (after --tag's input and tab).
std::vector<std::uint64_t> ids_in_order(const std::vector<std::string>& lines, const std::string& format) {
  std::vector<std::uint64_t> ids;
  const std::regex id(format == "jsonl" ? "^\\{\"task_id\":([0-9]+)," : format == "csv" ? "^([0-9]+)," : "task ([0-9]+)");
  for (std::size_t i = format == "csv" ? 1 : 0; i < lines.size(); ++i) {
    std::smatch match;
    INFO(lines[i]);
    REQUIRE(std::regex_search(lines[i], match, id));
    ids.push_back(std::stoull(match[1]));
  }
  return ids;
}

std::vector<std::uint64_t> one_to(std::uint64_t last) {
  std::vector<std::uint64_t> ids;
  for (std::uint64_t id = 1; id <= last; ++id) ids.push_back(id);
  return ids;
}

// A sample of the sink's --metrics-file, or -1 while there is none.
double metric(const std::filesystem::path& file, const std::string& name) {
  if (!std::filesystem::exists(file)) return -1;
  const auto samples = read_prometheus_text(read_file(file));
  const auto found = samples.find(name);
  return found == samples.end() ? -1 : found->second;
}

// The number after "field": in zpipe-status --json's answer.
std::uint64_t status_number(const JobRun& run, const std::string& field) {
  ChildProcess status({ZPIPE_STATUS, "--ventilator", run.ventilator_endpoint, "--json"}, run.dir / "status.out",
                      run.dir / "status.err");
  REQUIRE(status.wait_for(20s) == 0);
  const std::string json = read_file(run.dir / "status.out");
  std::smatch match;
  INFO(json);
  REQUIRE(std::regex_search(json, match, std::regex("\"" + field + "\":([0-9]+)")));
  return std::stoull(match[1]);
}

// `slow_ms` for task `slow_id`, 1 ms for the others: a sleep job of `total` tasks.
void write_sleep_tasks(const JobRun& run, std::uint64_t total, std::uint64_t slow_id, int slow_ms) {
  std::string lines;
  for (std::uint64_t id = 1; id <= total; ++id) lines += (id == slow_id ? std::to_string(slow_ms) : "1") + "\n";
  write_file(run.dir / "tasks.txt", lines);
}

}  // namespace

TEST_CASE("keep-order: every format prints in input order though the first task finishes last; the joblog too") {
  const std::string format = GENERATE("text", "jsonl", "csv");
  CAPTURE(format);
  JobRun run;
  // Task 1 sleeps 1.5 s; tasks 2..8 are done long before it on the other threads.
  std::string commands = "sleep 1.5; echo first\n";
  for (int i = 2; i <= 8; ++i) commands += "echo " + std::to_string(i) + "\n";
  write_file(run.dir / "commands.txt", commands);
  std::vector<std::string> sink_args{"--keep-order", "--format", format, "--joblog", (run.dir / "joblog").string(),
                                     "--results", (run.dir / "out").string()};
  if (format == "text") sink_args.push_back("--tag");
  auto& sink = run.sink(sink_args);
  auto& ventilator = run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec", "--min-workers", "2"});
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "2"});
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "2"});
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto lines = run.results();
  CHECK(ids_in_order(lines, format) == one_to(8));
  if (format == "text") CHECK(lines[0] == "sleep 1.5; echo first\ttask 1: \"first\\n\"");
  // The joblog is in task id order too, as parallel --keep-order writes it,
  // and its times show task 1 finished after another: the order is the
  // sink's doing, not the workers'. (Not after all of them: a worker thread
  // takes its share of the queued frames at once, so some wait behind it.)
  const auto joblog = read_lines(run.dir / "joblog");
  REQUIRE(joblog.size() == 9);
  double first_ended = 0, first_other_ended = 1e18;
  for (std::size_t i = 1; i < joblog.size(); ++i) {
    const auto columns = split_tabs(joblog[i]);
    REQUIRE(columns.size() == 9);
    CHECK(columns[0] == std::to_string(i));
    const double ended = std::stod(columns[2]) + std::stod(columns[3]);
    if (i == 1) first_ended = ended;
    else first_other_ended = std::min(first_other_ended, ended);
  }
  CHECK(first_ended > first_other_ended);
  CHECK(read_file(run.dir / "out" / "1" / "stdout") == "first\n");
  CHECK(read_file(run.dir / "out" / "8" / "stdout") == "8\n");
}

TEST_CASE("keep-order: while task 1 runs, the ventilator deals exactly --reorder-buffer more, and the sink holds no more") {
  constexpr std::uint64_t total = 200;
  constexpr std::uint64_t buffer = 5;
  JobRun run;
  write_sleep_tasks(run, total, 1, 4000);
  const auto metrics = run.dir / "sink.prom";
  auto& sink = run.sink({"--keep-order", "--reorder-buffer", std::to_string(buffer), "--metrics-file", metrics.string()});
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep"});
  run.worker({"--threads", "2"});
  run.worker({"--threads", "2"});
  // Tasks 2..6 take a millisecond and wait for task 1 in the sink. (A
  // worker thread takes its share of the frames queued at once, so one
  // that sits behind task 1 in the same thread arrives only after it: the
  // sink then holds fewer than 5, never more.)
  REQUIRE(eventually([&] { return metric(metrics, "zpipe_sink_reorder_held") >= 1; }, 20s));
  CHECK(run.results().empty());
  // The ventilator read task 1 and the 5 behind it, and not one more,
  // though threads are idle and the job has 200 tasks; a metrics period
  // later it still has not.
  CHECK(status_number(run, "read") == buffer + 1);
  const auto written = std::filesystem::last_write_time(metrics);
  REQUIRE(eventually([&] { return std::filesystem::last_write_time(metrics) != written; }, 5s));
  CHECK(status_number(run, "read") == buffer + 1);
  CHECK(metric(metrics, "zpipe_sink_reorder_held") <= buffer);
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  CHECK(ids_in_order(run.results(), "jsonl") == one_to(total));
  const double peak = metric(metrics, "zpipe_sink_reorder_held_peak");
  CHECK(peak >= 1);
  CHECK(peak <= buffer);
  CHECK(metric(metrics, "zpipe_sink_reorder_held") == 0);
  CHECK_THAT(run.log("ventilator"), Catch::Contains("buffer of 5 result(s): dealing at most 6 task ids ahead"));
}

TEST_CASE("keep-order: a worker killed holding the slow task: it is dealt again, fills the gap, each task once in order") {
  constexpr std::uint64_t total = 120;
  JobRun run;
  write_sleep_tasks(run, total, 1, 3000);
  const auto metrics = run.dir / "sink.prom";
  auto& sink = run.sink({"--keep-order", "--reorder-buffer", "30", "--metrics-file", metrics.string()});
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep"});
  auto& doomed = run.worker({"--threads", "2"});  // alone: it is dealt task 1
  REQUIRE(eventually([&] { return metric(metrics, "zpipe_sink_reorder_held") >= 20; }, 20s));
  run.worker({"--threads", "2"});
  doomed.send_signal(SIGKILL);
  REQUIRE(doomed.wait_for(5s).has_value());
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto lines = run.results();
  CHECK(ids_in_order(lines, "jsonl") == one_to(total));
  every_task_once(lines, total);
  CHECK_THAT(run.log("ventilator"), Catch::Contains("closed its connection: dealing its"));
  CHECK(metric(metrics, "zpipe_sink_reorder_held_peak") <= 30);
}

TEST_CASE("keep-order with --journal: a sink killed while holding results prints each once, in order, after restart") {
  constexpr std::uint64_t total = 60;
  constexpr std::uint64_t slow = 11;
  const bool rewrite = GENERATE(false, true);  // --output rewritten from the journal, or stdout
  CAPTURE(rewrite);
  JobRun run;
  write_sleep_tasks(run, total, slow, 3000);
  const std::string journal = (run.dir / "job.journal").string();
  const auto metrics = run.dir / "sink.prom";
  // With stdout each sink prints to its own file; together they are the output.
  const std::vector<std::string> args{"--keep-order", "--reorder-buffer", "20", "--journal", journal, "--metrics-file",
                                      metrics.string()};
  ChildProcess* sink = &run.sink(args, rewrite);
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep"});
  run.worker({"--threads", "2"});
  run.worker({"--threads", "2"});
  // Tasks 1..10 printed, most of 12..31 held for task 11.
  REQUIRE(eventually([&] { return metric(metrics, "zpipe_sink_reorder_held") >= 10; }, 20s));
  sink->send_signal(SIGKILL);
  REQUIRE(sink->wait_for(5s).has_value());
  // What it printed is tasks 1..k, k below 11 (a task sharing a worker
  // thread with task 11 may come only after it).
  const auto before = ids_in_order(rewrite ? run.results() : read_lines(run.dir / "sink.out"), "jsonl");
  CHECK(before == one_to(before.size()));
  CHECK(before.size() < slow);
  sink = &run.sink(args, rewrite);
  REQUIRE(sink->wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  CHECK_THAT(run.log("sink2"), Catch::Contains("of them held for --keep-order until task " +
                                               std::to_string(before.size() + 1) + " has a result"));
  if (rewrite) {
    CHECK(ids_in_order(run.results(), "jsonl") == one_to(total));
  } else {
    // What the first sink printed, then what the second did: each task once, in order.
    auto ids = ids_in_order(read_lines(run.dir / "sink.out"), "jsonl");
    const auto after = ids_in_order(read_lines(run.dir / "sink2.out"), "jsonl");
    CHECK(ids == before);
    ids.insert(ids.end(), after.begin(), after.end());
    CHECK(ids == one_to(total));
  }
}

TEST_CASE("keep-order: --reorder-buffer out of range, or without --keep-order, is a usage error") {
  ScratchDir dir;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--keep-order", "--reorder-buffer", "0"},
           {"--keep-order", "--reorder-buffer", "16777216"},
           {"--reorder-buffer", "10"}}) {
    std::vector<std::string> argv{ZPIPE_SINK, "--bind", "tcp://127.0.0.1:*"};
    argv.insert(argv.end(), args.begin(), args.end());
    ChildProcess sink(argv, dir / "out", dir / "err");
    CHECK(sink.wait_for(10s) == 2);
    CHECK_THAT(read_file(dir / "err"), Catch::Contains("--reorder-buffer"));
  }
}
