// --metrics-file through the real programs: each writes Prometheus' text
// format every second while it runs and once more at the end, whole (by
// rename), with counts that match the job.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>

#include "support/job_run.hpp"
#include "support/process.hpp"
#include "support/prometheus_text.hpp"

using namespace std::chrono_literals;
using zpipe::testing::eventually;
using zpipe::testing::JobRun;
using zpipe::testing::read_file;
using zpipe::testing::read_prometheus_text;

namespace {

std::map<std::string, double> metrics_in(const std::filesystem::path& file) {
  INFO(file.string() << ":\n" << read_file(file));
  REQUIRE(std::filesystem::exists(file));
  auto samples = read_prometheus_text(read_file(file));
  const int promtool = zpipe::testing::promtool_check(file);
  if (promtool >= 0) CHECK(promtool == 0);
  return samples;
}

}  // namespace

TEST_CASE("each program writes its counters and gauges to --metrics-file, and they match the job") {
  JobRun run;
  const auto file = [&](const std::string& name) { return run.dir / (name + ".prom"); };
  auto& sink = run.sink({"--metrics-file", file("sink").string(), "--journal", (run.dir / "journal").string()});
  // Written while the sink waits for a job, not only at the end.
  REQUIRE(eventually([&] { return std::filesystem::exists(file("sink")); }, 3s));
  CHECK(metrics_in(file("sink")).at("zpipe_sink_tasks_completed_total") == 0);

  run.ventilator({"--count", "300", "--batch", "8", "--metrics-file", file("ventilator").string()});
  auto& worker = run.worker({"--metrics-file", file("worker").string()});
  REQUIRE(sink.wait_for(60s) == 0);
  REQUIRE(worker.wait_for(10s) == 0);

  const auto from_sink = metrics_in(file("sink"));
  CHECK(from_sink.at("zpipe_sink_tasks_completed_total") == 300);
  CHECK(from_sink.at("zpipe_sink_tasks_failed_total") == 0);
  CHECK(from_sink.at("zpipe_sink_tasks") == 300);
  CHECK(from_sink.at("zpipe_sink_output_bytes_total") ==
        static_cast<double>(std::filesystem::file_size(run.dir / "results.jsonl")));
  CHECK(from_sink.at("zpipe_sink_journal_sync_seconds_count") >= 1);
  CHECK(from_sink.at("zpipe_sink_frames_rejected_total{reason=\"malformed\"}") == 0);

  const auto from_ventilator = metrics_in(file("ventilator"));
  CHECK(from_ventilator.at("zpipe_ventilator_tasks_read_total") == 300);
  CHECK(from_ventilator.at("zpipe_ventilator_tasks_dealt_total") >= 300);
  CHECK(from_ventilator.at("zpipe_ventilator_tasks_completed_total") == 300);
  CHECK(from_ventilator.at("zpipe_ventilator_tasks_in_flight") == 0);
  // At the end the --once worker may have disconnected already: 1 or 0, none lost.
  CHECK(from_ventilator.at("zpipe_ventilator_workers") <= 1);
  CHECK(from_ventilator.at("zpipe_ventilator_workers_lost_total") == 0);
  CHECK(from_ventilator.at("zpipe_ventilator_frames_rejected_total{from=\"worker\",reason=\"framing\"}") == 0);

  const auto from_worker = metrics_in(file("worker"));
  CHECK(from_worker.at("zpipe_worker_tasks_completed_total") == 300);
  CHECK(from_worker.at("zpipe_worker_jobs_ended_total") == 1);
  CHECK(from_worker.at("zpipe_worker_credit_window") >= 2);

  // Written under another name and renamed: nothing half-written is left.
  for (const auto& entry : std::filesystem::directory_iterator(run.dir.path()))
    CHECK(entry.path().extension() != ".tmp");
}

TEST_CASE("a --metrics-file that cannot be written is reported once, and the job goes on") {
  JobRun run;
  auto& sink = run.sink({"--metrics-file", (run.dir / "no-such-dir" / "sink.prom").string()});
  run.ventilator({"--count", "50"});
  run.worker();
  REQUIRE(sink.wait_for(30s) == 0);
  CHECK_THAT(run.log("sink"), Catch::Contains("warning sink: cannot write --metrics-file"));
}

TEST_CASE("without --metrics-file no program writes a metrics file or mentions one") {
  JobRun run;
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--count", "50"});
  auto& worker = run.worker({"--once"});
  REQUIRE(sink.wait_for(30s) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  REQUIRE(worker.wait_for(10s) == 0);
  for (const char* role : {"sink", "ventilator", "worker"}) {
    INFO(role);
    CHECK_THAT(run.log(role), !Catch::Contains("metrics-file"));
  }
}
