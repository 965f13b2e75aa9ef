// Shell-command tasks: they run, report non-zero exits and time-outs with
// their reasons. (That a worker without --allow-exec is dealt none is in
// kinds_test.cpp.)
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "support/job_run.hpp"

using namespace zpipe::testing;

TEST_CASE("exec tasks run, and failures and time-outs come back with their reason") {
  JobRun run;
  write_file(run.dir / "commands.txt",
             "echo hello\n"
             "printf '%s' \"$((6 * 7))\"\n"
             "echo oops >&2; exit 3\n"
             "sleep 30\n"
             "yes | head -n 3\n");
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--exec-timeout", "1", "--threads", "2"});
  REQUIRE(sink.wait_for(job_limit) == 1);
  REQUIRE(ventilator.wait_for(10s) == 0);
  const auto by_id = every_task_once(run.results(), 5);
  CHECK(by_id.at(1).result == R"("hello\n")");
  CHECK(by_id.at(2).result == R"("42")");
  CHECK(by_id.at(3).error == R"("exit status 3")");
  CHECK_THAT(by_id.at(3).more, Catch::Contains(R"("exit":3,"signal":null,)") && Catch::Contains(R"("stderr":"oops\n")"));
  CHECK_THAT(by_id.at(4).error, Catch::Contains("timed out after 1000 ms"));
  CHECK(by_id.at(5).result == R"("y\ny\ny\n")");  // SIGPIPE is back to default in the command
}

TEST_CASE("a worker refuses --allow-exec without CURVE keys unless forced") {
  ScratchDir dir;
  ChildProcess worker({ZPIPE_WORKER, "--allow-exec"}, dir / "out", dir / "err");
  REQUIRE(worker.wait_for(10s) == 2);
  CHECK_THAT(read_file(dir / "err"), Catch::Contains("--allow-exec-without-curve"));
}

// ---- issue 9: exec results that keep everything ---------------------------

namespace {

// Runs `commands` (one a line) through one exec worker with `worker_options`
// and returns the results by task id; `sink_status` is the sink's exit.
std::map<std::uint64_t, ResultLine> run_exec(JobRun& run, const std::string& commands, std::uint64_t total,
                                             std::vector<std::string> worker_options, int sink_status) {
  write_file(run.dir / "commands.txt", commands);
  auto& sink = run.sink();
  run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
  worker_options.insert(worker_options.end(), {"--allow-exec", "--allow-exec-without-curve"});
  run.worker(worker_options);
  REQUIRE(sink.wait_for(job_limit) == sink_status);
  return every_task_once(run.results(), total);
}

double field_seconds(const std::string& more, const std::string& name) {
  const auto at = more.find("\"" + name + "\":");
  REQUIRE(at != std::string::npos);
  return std::stod(more.substr(at + name.size() + 3));
}

}  // namespace

TEST_CASE("exec: stdout past 64 KiB is kept whole, not cut and reported ok") {
  JobRun run;
  write_file(run.dir / "commands.txt", "head -c 100000 /dev/zero | tr '\\0' a\n");
  auto& sink = run.sink();
  run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
  run.worker({"--allow-exec", "--allow-exec-without-curve"});
  REQUIRE(sink.wait_for(job_limit) == 0);
  // Not through the line parser: std::regex recurses once per character.
  const auto lines = run.results();
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Catch::StartsWith(R"({"task_id":1,"status":"ok","result":")" + std::string(100000, 'a') + "\","));
  CHECK_THAT(lines[0], Catch::Contains(R"("stdout_truncated":false)"));
}

TEST_CASE("exec: output over --max-output is marked truncated and fails, unless --on-truncate keep") {
  const bool keep = GENERATE(false, true);
  JobRun run;
  std::vector<std::string> options{"--max-output", "10"};
  if (keep) options.insert(options.end(), {"--on-truncate", "keep"});
  const auto by_id = run_exec(run, "printf 0123456789abcdef\n", 1, options, keep ? 0 : 1);
  CHECK(by_id.at(1).result == R"("0123456789")");
  CHECK_THAT(by_id.at(1).more, Catch::Contains(R"("stdout_truncated":true)"));
  if (keep) CHECK(by_id.at(1).status == "ok");
  else CHECK_THAT(by_id.at(1).error, Catch::Contains("--max-output"));
}

TEST_CASE("exec: a failing command keeps its stdout, and a succeeding one its stderr") {
  JobRun run;
  const auto by_id = run_exec(run, "echo out; echo err >&2; exit 1\necho warn >&2; echo done\n", 2, {}, 1);
  CHECK(by_id.at(1).status == "error");
  CHECK(by_id.at(1).error == R"("exit status 1")");
  CHECK(by_id.at(1).result == R"("out\n")");
  CHECK_THAT(by_id.at(1).more, Catch::Contains(R"("exit":1,)") && Catch::Contains(R"("stdout":"out\n","stderr":"err\n")"));
  CHECK(by_id.at(2).status == "ok");
  CHECK_THAT(by_id.at(2).more, Catch::Contains(R"("stdout":"done\n","stderr":"warn\n")"));
}

TEST_CASE("exec: bytes that are not UTF-8 come back exactly, apart from the text that spells them") {
  JobRun run;
  // dash's printf: \377 is the byte 0xff, \\377 the four characters \377.
  const auto by_id = run_exec(run, "printf '\\377'\nprintf '\\\\377'\n", 2, {}, 0);
  CHECK(by_id.at(1).result == "null");
  CHECK_THAT(by_id.at(1).more, Catch::Contains(R"("stdout":null,"stdout_base64":"/w==")"));
  CHECK(by_id.at(2).result == R"("\\377")");
  CHECK_THAT(by_id.at(2).more, Catch::Contains(R"("stdout":"\\377",)"));
}

TEST_CASE("exec: --format text keeps one line per task whatever the command printed") {
  JobRun run;
  write_file(run.dir / "commands.txt", "printf 'a\\nb\\n'\nprintf '\\377'\nprintf '\\\\377'\n");
  auto& sink = run.sink({"--format", "text"});
  run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
  run.worker({"--allow-exec", "--allow-exec-without-curve"});
  REQUIRE(sink.wait_for(job_limit) == 0);
  auto lines = run.results();
  std::sort(lines.begin(), lines.end());
  CHECK(lines == std::vector<std::string>{R"(task 1: "a\nb\n")", R"(task 2: "\xff")", R"(task 3: "\\377")"});
}

TEST_CASE("exec: a command is done when its shell exits, whatever a background child still holds") {
  JobRun run;
  const auto by_id = run_exec(run, "sleep 5 & echo started\n", 1, {"--exec-timeout", "3"}, 0);
  CHECK(by_id.at(1).result == R"("started\n")");
  CHECK(field_seconds(by_id.at(1).more, "duration") < 1.0);
}

TEST_CASE("exec: the time limit kills the command's whole process group") {
  JobRun run;
  const auto pid_file = run.dir / "child.pid";
  const auto by_id =
      run_exec(run, "sleep 30 & echo $! > " + pid_file.string() + "; wait\n", 1, {"--exec-timeout", "1"}, 1);
  CHECK_THAT(by_id.at(1).error, Catch::Contains("timed out after 1000 ms"));
  CHECK_THAT(by_id.at(1).more, Catch::Contains(R"("exit":null,"signal":9,)"));
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  REQUIRE(child > 0);
  // Gone, or a zombie waiting for a reaper: either way no longer running.
  CHECK(eventually([&] {
    const std::string stat = read_file("/proc/" + std::to_string(child) + "/stat");
    return stat.empty() || stat.find(") Z ") != std::string::npos;
  }, 5s));
}

TEST_CASE("exec: --command fills a template with each input line, quoted, spaces and quotes included") {
  JobRun run;
  write_file(run.dir / "files.txt", "dir/my file.txt\nit's \"here\".tar.gz\n$(echo no)\n");
  auto& sink = run.sink();
  run.ventilator({"--input", (run.dir / "files.txt").string(), "--command", "printf '%s|%s|%s|%s' {#} {/} {.} {//}"});
  run.worker({"--allow-exec", "--allow-exec-without-curve"});
  REQUIRE(sink.wait_for(job_limit) == 0);
  const auto by_id = every_task_once(run.results(), 3);
  CHECK(by_id.at(1).result == R"("1|my file.txt|dir/my file|dir")");
  CHECK(by_id.at(2).result == R"("2|it's \"here\".tar.gz|it's \"here\".tar|.")");
  CHECK(by_id.at(3).result == R"("3|$(echo no)|$(echo no)|.")");
}

// ---- issue 9, point 3: GNU parallel's joblog, --results, --tag ------------

namespace {

// The commands of the tests below: one ok, one failing with stderr, one
// killed by a signal.
constexpr const char* parallel_commands = "echo hi\necho err >&2; exit 3\nkill -9 $$\n";

}  // namespace

TEST_CASE("exec: --joblog writes GNU parallel's joblog, one line per task in its nine columns") {
  JobRun run;
  write_file(run.dir / "commands.txt", parallel_commands);
  auto& sink = run.sink({"--joblog", (run.dir / "joblog").string()});
  run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
  run.worker({"--allow-exec", "--allow-exec-without-curve"});
  REQUIRE(sink.wait_for(job_limit) == 1);
  const auto lines = read_lines(run.dir / "joblog");
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand");
  std::map<std::string, std::vector<std::string>> by_seq;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto columns = split_tabs(lines[i]);
    REQUIRE(columns.size() == 9);
    CHECK_FALSE(columns[1].empty());                 // the host
    CHECK(std::stod(columns[2]) > 1.7e9);            // Unix seconds
    CHECK(std::stod(columns[3]) >= 0);
    CHECK(columns[4] == "0");
    by_seq[columns[0]] = columns;
  }
  REQUIRE(by_seq.size() == 3);
  CHECK(by_seq.at("1")[5] == "3");                   // "hi\n"
  CHECK((std::vector<std::string>(by_seq.at("1").begin() + 6, by_seq.at("1").end()) ==
         std::vector<std::string>{"0", "0", "echo hi"}));
  CHECK((std::vector<std::string>(by_seq.at("2").begin() + 6, by_seq.at("2").end()) ==
         std::vector<std::string>{"3", "0", "echo err >&2; exit 3"}));
  CHECK((std::vector<std::string>(by_seq.at("3").begin() + 6, by_seq.at("3").end()) ==
         std::vector<std::string>{"0", "9", "kill -9 $$"}));
}

TEST_CASE("exec: --results DIR keeps each task's stdout, stderr and exitval in DIR/<task id>/") {
  JobRun run;
  write_file(run.dir / "commands.txt", parallel_commands);
  const auto results = run.dir / "out";
  auto& sink = run.sink({"--results", results.string()});
  run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
  run.worker({"--allow-exec", "--allow-exec-without-curve"});
  REQUIRE(sink.wait_for(job_limit) == 1);
  CHECK(read_file(results / "1" / "stdout") == "hi\n");
  CHECK(read_file(results / "1" / "stderr").empty());
  CHECK(read_file(results / "1" / "exitval") == "0\n");
  CHECK(read_file(results / "2" / "stdout").empty());
  CHECK(read_file(results / "2" / "stderr") == "err\n");
  CHECK(read_file(results / "2" / "exitval") == "3\n");
  CHECK(read_file(results / "3" / "exitval") == "137\n");
}

TEST_CASE("exec: every result names its input: jsonl's input field, and --tag in text") {
  JobRun run;
  write_file(run.dir / "commands.txt", parallel_commands);
  SECTION("jsonl") {
    auto& sink = run.sink();
    run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
    run.worker({"--allow-exec", "--allow-exec-without-curve"});
    REQUIRE(sink.wait_for(job_limit) == 1);
    const auto by_id = every_task_once(run.results(), 3);
    CHECK_THAT(by_id.at(1).more, Catch::Contains(R"("input":"echo hi")"));
    CHECK_THAT(by_id.at(2).more, Catch::Contains(R"("input":"echo err >&2; exit 3")"));
    CHECK_THAT(by_id.at(3).more, Catch::Contains(R"("input":"kill -9 $$")"));
  }
  SECTION("text --tag") {
    auto& sink = run.sink({"--format", "text", "--tag"});
    run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec"});
    run.worker({"--allow-exec", "--allow-exec-without-curve"});
    REQUIRE(sink.wait_for(job_limit) == 1);
    auto lines = run.results();
    std::sort(lines.begin(), lines.end());
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "echo err >&2; exit 3\ttask 2 FAILED: exit status 3; stdout \"\" stderr \"err\\n\"");
    CHECK(lines[1] == "echo hi\ttask 1: \"hi\\n\"");
    CHECK_THAT(lines[2], Catch::StartsWith("kill -9 $$\ttask 3 FAILED: killed by signal 9"));
  }
}

// ---- issue 9: --retries -------------------------------------------------

namespace {

// A command line that fails (exit 1) the first two times it runs, then
// prints "ok after 2 failures": `counter` counts its runs.
std::string fails_twice(const std::filesystem::path& counter) {
  const std::string file = "'" + counter.string() + "'";
  return "n=$(cat " + file + " 2>/dev/null || echo 0); echo $((n + 1)) > " + file +
         "; test $n -ge 2 && echo ok after $n failures";
}

}  // namespace

TEST_CASE("exec: --retries runs a failed task again; the joblog has every attempt, the output the last alone") {
  // With --retries 2 the third run succeeds; with --retries 1 the second
  // run's failure is final.
  const auto [retries, sink_status] = GENERATE(table<int, int>({{2, 0}, {1, 1}}));
  CAPTURE(retries);
  JobRun run;
  write_file(run.dir / "commands.txt", fails_twice(run.dir / "runs") + "\necho plain\n");
  auto& sink = run.sink({"--joblog", (run.dir / "joblog").string(), "--results", (run.dir / "out").string()});
  auto& ventilator = run.ventilator(
      {"--input", (run.dir / "commands.txt").string(), "--kind", "exec", "--retries", std::to_string(retries)});
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "1"});
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "1"});
  REQUIRE(sink.wait_for(job_limit) == sink_status);
  REQUIRE(ventilator.wait_for(10s) == 0);

  const auto by_id = every_task_once(run.results(), 2);
  CHECK(read_file(run.dir / "runs") == std::to_string(retries + 1) + "\n");
  CHECK(by_id.at(2).result == R"("plain\n")");
  if (retries == 2) {
    CHECK(by_id.at(1).status == "ok");
    CHECK(by_id.at(1).result == R"("ok after 2 failures\n")");
  } else {
    CHECK(by_id.at(1).error == R"("exit status 1")");
  }
  // Every attempt of task 1 has its joblog line, in order; task 2 one.
  std::vector<std::string> exit_values;
  std::size_t plain = 0;
  const auto lines = read_lines(run.dir / "joblog");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto columns = split_tabs(lines[i]);
    REQUIRE(columns.size() == 9);
    if (columns[0] == "1") exit_values.push_back(columns[6]);
    else plain += columns[0] == "2" ? 1 : 0;
  }
  CHECK(plain == 1);
  if (retries == 2) CHECK(exit_values == std::vector<std::string>{"1", "1", "0"});
  else CHECK(exit_values == std::vector<std::string>{"1", "1"});
  // --results keeps the final attempt, as parallel's does.
  CHECK(read_file(run.dir / "out" / "1" / "exitval") == (retries == 2 ? "0\n" : "1\n"));
  // Both summaries count the retried attempts.
  CHECK_THAT(run.log("sink"), Catch::Contains(std::to_string(retries) + " retried"));
  CHECK_THAT(run.log("ventilator"), Catch::Contains(std::to_string(retries) + " retried"));
}

// ---- issue 9: --halt --------------------------------------------------------

namespace {

// `total` commands; command i (1-based) is what `command_of(i)` returns.
std::string commands(std::uint64_t total, const std::function<std::string(std::uint64_t)>& command_of) {
  std::string text;
  for (std::uint64_t i = 1; i <= total; ++i) text += command_of(i) + "\n";
  return text;
}

std::set<std::uint64_t> ids_in(const std::vector<std::string>& lines) {
  std::set<std::uint64_t> ids;
  for (const auto& line : lines) CHECK(ids.insert(std::stoull(line)).second);  // each once
  return ids;
}

// Processes of process group `group` that are not zombies (a killed
// command's orphans are reaped by init whenever it gets to them).
std::size_t live_in_group(pid_t group) {
  std::size_t live = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string text;
    if (!stat || !std::getline(stat, text)) continue;
    const auto close = text.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(text.substr(close + 2));
    char state = 0;
    long parent = 0, pgrp = 0;
    rest >> state >> parent >> pgrp;
    if (pgrp == group && state != 'Z' && state != 'X') ++live;
  }
  return live;
}

std::set<std::uint64_t> printed_once(const std::vector<std::string>& results) {
  std::set<std::uint64_t> ids;
  for (const auto& line : results) CHECK(ids.insert(parse_result_line(line).task_id).second);
  return ids;
}

}  // namespace

TEST_CASE("exec: --halt soon,fail=1 deals nothing after the failure and lets what workers hold finish") {
  JobRun run;
  constexpr std::uint64_t total = 40;
  const std::string started = "'" + (run.dir / "started").string() + "'";
  // Task 1 fails at once; the others take a second, so the halt comes while
  // the first of them run.
  write_file(run.dir / "commands.txt", commands(total, [&](std::uint64_t i) {
               return "echo " + std::to_string(i) + " >> " + started + (i == 1 ? "; exit 3" : "; sleep 1; echo done");
             }));
  auto& sink = run.sink();
  // What workers hold, their queue included, runs to its end after a halt
  // soon: --max-held-per-worker bounds it.
  auto& ventilator = run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec", "--halt",
                                     "soon,fail=1", "--max-held-per-worker", "3"});
  auto& worker = run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "2"});
  REQUIRE(sink.wait_for(job_limit) == 5);
  REQUIRE(ventilator.wait_for(10s) == 5);
  REQUIRE(worker.wait_for(10s) == 4);  // told the job ended unfinished
  // Every task that started ran to its end and was printed, once; the rest never ran.
  const auto ran = ids_in(read_lines(run.dir / "started"));
  const auto printed = printed_once(run.results());
  CHECK(printed == ran);
  CHECK(ran.count(1) == 1);
  CHECK(ran.size() <= 5);  // the 3 it may hold, and what a credit won before the halt came
  for (const auto& line : run.results()) {
    const auto result = parse_result_line(line);
    if (result.task_id != 1) CHECK(result.status == "ok");  // finished, not killed
  }
  const std::string not_run = std::to_string(total - printed.size()) + " not run";
  CHECK_THAT(run.log("sink"), Catch::Contains("halted by --halt soon,fail=1") && Catch::Contains(not_run));
  CHECK_THAT(run.log("ventilator"), Catch::Contains("job halted") && Catch::Contains(not_run));
}

TEST_CASE("exec: --halt now,fail=1 kills the commands that run, at once") {
  JobRun run;
  constexpr std::uint64_t total = 10;
  const std::string groups = "'" + (run.dir / "groups").string() + "'";
  // Each command records its process group (its shell's pid: the worker
  // starts each in a group of its own), then sleeps for a minute; task 2
  // fails after a moment, while task 1 sleeps on the other thread.
  write_file(run.dir / "commands.txt", commands(total, [&](std::uint64_t i) {
               return i == 2 ? std::string("sleep 0.5; exit 3") : "echo $$ >> " + groups + "; sleep 60 & wait";
             }));
  auto& sink = run.sink();
  const auto started = std::chrono::steady_clock::now();
  auto& ventilator =
      run.ventilator({"--input", (run.dir / "commands.txt").string(), "--kind", "exec", "--halt", "now,fail=1"});
  auto& worker = run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "2"});
  REQUIRE(sink.wait_for(job_limit) == 5);
  REQUIRE(ventilator.wait_for(10s) == 5);
  REQUIRE(worker.wait_for(10s) == 4);
  const auto took = std::chrono::steady_clock::now() - started;
  INFO("the job took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < 15s);  // not the minute the commands sleep
  // Only task 2's failure is printed: the sleeping commands were killed,
  // and their process groups (the sleep included) are gone.
  CHECK(printed_once(run.results()) == std::set<std::uint64_t>{2});
  const auto groups_started = read_lines(run.dir / "groups");
  REQUIRE_FALSE(groups_started.empty());
  for (const auto& group : groups_started) {
    CAPTURE(group);
    CHECK(live_in_group(static_cast<pid_t>(std::stol(group))) == 0);
  }
  CHECK_THAT(run.log("sink"), Catch::Contains("halted by --halt now,fail=1") &&
                                  Catch::Contains(std::to_string(total - 1) + " not run"));
}

TEST_CASE("exec: --halt on a share of failures, on successes, and with --retries only on final failures") {
  // One thread: tasks run one after the other, in order.
  struct Case {
    std::string halt;
    std::vector<std::string> first;  // the first commands; the rest are `true`
    std::vector<std::string> extra;  // more ventilator options
    int status;                      // the sink's and the ventilator's
    std::uint64_t at_least;          // results printed, at least
  };
  const auto which = GENERATE(range(0, 4));
  JobRun run;
  const std::vector<Case> cases = {
      {"soon,fail=50%", {"true", "exit 1"}, {}, 5, 2},
      {"soon,success=2", {"exit 1", "true", "exit 1", "true"}, {}, 5, 4},
      // Task 1 fails once, then succeeds on its retry: not a final failure.
      {"now,fail=1", {fails_twice(run.dir / "runs") + " || test $n -ge 1"}, {"--retries", "1"}, 0, 12},
      // Task 1 fails twice: its retry's failure is final.
      {"now,fail=1", {fails_twice(run.dir / "runs")}, {"--retries", "1"}, 5, 1},
  };
  const Case& c = cases[static_cast<std::size_t>(which)];
  CAPTURE(c.halt, which);
  // Enough tasks that a job that does not halt runs well past what the
  // worker holds when the condition is met; they are quick when it halts.
  const std::uint64_t total = c.status == 5 ? 60 : 12;
  write_file(run.dir / "commands.txt", commands(total, [&](std::uint64_t i) {
               return i <= c.first.size() ? c.first[i - 1] : std::string("sleep 0.1; true");
             }));
  auto& sink = run.sink();
  std::vector<std::string> options{"--input", (run.dir / "commands.txt").string(), "--kind", "exec", "--halt", c.halt,
                                   "--max-held-per-worker", "2"};
  options.insert(options.end(), c.extra.begin(), c.extra.end());
  auto& ventilator = run.ventilator(options);
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "1"});
  const auto sink_status = sink.wait_for(job_limit);
  INFO("sink:\n" << run.log("sink"));
  REQUIRE(sink_status == c.status);
  REQUIRE(ventilator.wait_for(10s) == (c.status == 5 ? 5 : 0));
  const auto printed = printed_once(run.results());
  CHECK(printed.size() >= c.at_least);
  if (c.status == 5) {
    CHECK(printed.size() < total);
    CHECK_THAT(run.log("sink"), Catch::Contains("halted by --halt " + c.halt));
  } else {
    CHECK(printed.size() == total);
    CHECK_THAT(run.log("sink"), Catch::Contains("complete") && !Catch::Contains("halts"));
  }
}

TEST_CASE("exec: a bad --halt is refused at start with what to give, exit 2") {
  const auto bad = GENERATE(as<std::string>{}, "sometimes,fail=1", "soon,fail=0", "soon,fail=x", "soon,fail=101%",
                            "soon", "now,done=1", "soon,fail=", "now,success=-1", "");
  CAPTURE(bad);
  ScratchDir dir;
  ChildProcess ventilator({ZPIPE_VENTILATOR, "--count", "1", "--halt", bad}, dir / "out", dir / "err");
  REQUIRE(ventilator.wait_for(10s) == 2);
  CHECK_THAT(read_file(dir / "err"), Catch::Contains("--halt") && Catch::Contains("soon,fail=N"));
}

// ---- issue 9: --resume-failed -----------------------------------------------

TEST_CASE("exec: --resume-failed runs again exactly the tasks that failed, and none that succeeded") {
  JobRun run;
  constexpr std::uint64_t total = 8;
  const std::string runs = "'" + (run.dir / "runs").string() + "'";
  const std::string fixed = "'" + (run.dir / "fixed").string() + "'";
  // Tasks 3 and 6 fail until the file `fixed` exists; every run is counted.
  write_file(run.dir / "commands.txt", commands(total, [&](std::uint64_t i) {
               return "echo " + std::to_string(i) + " >> " + runs + (i == 3 || i == 6 ? " && test -e " + fixed : "") +
                      " && echo " + std::to_string(i);
             }));
  const std::vector<std::string> job{"--input", (run.dir / "commands.txt").string(), "--kind", "exec"};
  const std::vector<std::string> sink_options{"--journal", (run.dir / "journal").string()};
  auto* sink = &run.sink(sink_options);
  run.ventilator(job);
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "2"});
  const auto first_status = sink->wait_for(job_limit);
  INFO("sink:\n" << run.log("sink") << "ventilator:\n" << run.log("ventilator"));
  REQUIRE(first_status == 1);
  REQUIRE(read_lines(run.dir / "runs").size() == total);

  write_file(run.dir / "fixed", "");
  sink = &run.sink(sink_options);  // the same journal and output
  auto resumed = job;
  resumed.push_back("--resume-failed");
  auto& ventilator = run.ventilator(resumed);
  run.worker({"--allow-exec", "--allow-exec-without-curve", "--threads", "2"});
  REQUIRE(sink->wait_for(job_limit) == 0);  // every task ok now
  REQUIRE(ventilator.wait_for(10s) == 0);

  // Tasks 3 and 6 ran twice, every other task once.
  std::map<std::uint64_t, int> times;
  for (const auto& line : read_lines(run.dir / "runs")) ++times[std::stoull(line)];
  for (std::uint64_t i = 1; i <= total; ++i) CHECK(times[i] == (i == 3 || i == 6 ? 2 : 1));
  // The output holds the first run's lines, the failed ones included, and
  // the new results of 3 and 6, each once.
  std::map<std::uint64_t, std::vector<std::string>> statuses;
  for (const auto& line : run.results()) {
    const auto result = parse_result_line(line);
    statuses[result.task_id].push_back(result.status);
  }
  for (std::uint64_t i = 1; i <= total; ++i) {
    CAPTURE(i);
    if (i == 3 || i == 6) CHECK(statuses[i] == std::vector<std::string>{"error", "ok"});
    else CHECK(statuses[i] == std::vector<std::string>{"ok"});
  }
  CHECK_THAT(run.log("sink2"), Catch::Contains("--resume-failed: 2 failed task(s)"));
}
