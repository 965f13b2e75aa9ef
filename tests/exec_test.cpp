// Shell-command tasks: they run, report non-zero exits and time-outs with
// their reasons. (That a worker without --allow-exec is dealt none is in
// kinds_test.cpp.)
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>

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

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> columns;
  std::size_t from = 0;
  for (std::size_t tab; (tab = line.find('\t', from)) != std::string::npos; from = tab + 1)
    columns.push_back(line.substr(from, tab - from));
  columns.push_back(line.substr(from));
  return columns;
}

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
