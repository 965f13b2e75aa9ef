// zpipe-status through the real programs: a snapshot of a running job as
// text and as JSON, who may ask under CURVE, and what it says when nobody
// answers.
#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "security/key_ring.hpp"
#include "security/rogue_worker.hpp"
#include "support/job_run.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/sockets.hpp"

using namespace zpipe::testing;

namespace fs = std::filesystem;

namespace {

struct StatusRun {
  int exit_code;
  std::string out;
  std::string err;
};

// Runs zpipe-status with `args` to its end (bounded) and returns what it printed.
StatusRun ask_status(const JobRun& run, const std::vector<std::string>& args, const std::string& name) {
  std::vector<std::string> argv{ZPIPE_STATUS};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess status(argv, run.dir / (name + ".out"), run.dir / (name + ".err"));
  const auto code = status.wait_for(20s);
  REQUIRE(code.has_value());
  return {*code, read_file(run.dir / (name + ".out")), read_file(run.dir / (name + ".err"))};
}

// The number after "field": in a JSON object.
std::uint64_t json_number(const std::string& json, const std::string& field) {
  std::smatch match;
  INFO(json);
  REQUIRE(std::regex_search(json, match, std::regex("\"" + field + "\":([0-9]+)")));
  return std::stoull(match[1]);
}

// 400 tasks of 20 ms: about 4 s on two workers, long enough to be asked.
void write_slow_tasks(const JobRun& run) {
  std::string lines;
  for (int i = 0; i < 400; ++i) lines += "20\n";
  write_file(run.dir / "tasks.txt", lines);
}

}  // namespace

TEST_CASE("zpipe-status shows a running job's progress and each worker, as text and as JSON") {
  JobRun run;
  write_slow_tasks(run);
  auto& sink = run.sink();
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep", "--min-workers", "2"});
  run.worker({"--name", "w-a"});
  run.worker({"--name", "w-b"});
  REQUIRE(eventually([&] { return run.results().size() >= 20; }, 20s));

  const auto json = ask_status(run, {"--ventilator", run.ventilator_endpoint, "--json"}, "status-json");
  INFO(json.out << json.err);
  REQUIRE(json.exit_code == 0);
  const std::string ventilator_log = run.log("ventilator");
  std::smatch job;
  REQUIRE(std::regex_search(ventilator_log, job, std::regex("job ([0-9]+): workers connect to")));
  CHECK(json_number(json.out, "job") == std::stoull(job[1]));
  CHECK_THAT(json.out, Catch::Contains("\"kind\":\"sleep\"") && Catch::Contains("\"phase\":\"dealing\""));
  CHECK(json_number(json.out, "total") == 400);
  CHECK(json_number(json.out, "workers_connected") == 2);
  const auto acknowledged = json_number(json.out, "acknowledged");
  CHECK(acknowledged >= 1);
  CHECK(acknowledged < 400);
  CHECK(json_number(json.out, "rate") >= 1);
  CHECK(json_number(json.out, "eta_ms") >= 1);
  for (const char* name : {"w-a", "w-b"})
    CHECK_THAT(json.out, Catch::Contains(std::string("{\"name\":\"") + name + "\",\"host\":\"127.0.0.1\""));
  // What the workers hold is what is in flight, less what waits to be dealt again.
  std::uint64_t held = 0, done = 0;
  const std::regex row("\"held\":([0-9]+),\"done\":([0-9]+)");
  for (auto it = std::sregex_iterator(json.out.begin(), json.out.end(), row); it != std::sregex_iterator(); ++it) {
    held += std::stoull((*it)[1]);
    done += std::stoull((*it)[2]);
  }
  CHECK(held >= 1);
  CHECK(held <= json_number(json.out, "in_flight"));
  CHECK(done == acknowledged);

  const auto text = ask_status(run, {"--ventilator", run.ventilator_endpoint}, "status-text");
  INFO(text.out << text.err);
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("(kind sleep): dealing") && Catch::Contains(" of 400 done") &&
                           Catch::Contains("tasks/s, ETA ") && Catch::Contains("2 connected, 0 lost"));
  CHECK(std::regex_search(text.out, std::regex("\nw-a +127\\.0\\.0\\.1 +[0-9]+ +[0-9]+ +[0-9.]+ s ago\n")));
  CHECK(std::regex_search(text.out, std::regex("\nw-b +127\\.0\\.0\\.1 ")));

  // One connection that asks five times at once is answered once: a peer
  // that asks without reading must not queue a snapshot per request.
  {
    zmq::context_t context;
    zmq::socket_t asker = zpipe::open_socket(context, zmq::socket_type::dealer);
    asker.connect(run.ventilator_endpoint);
    for (int i = 0; i < 5; ++i) zpipe::send_frame(asker, zpipe::encode(zpipe::StatusRequest{}), false);
    int answers = 0;
    std::vector<zmq::message_t> parts;
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (std::chrono::steady_clock::now() < until) {
      zmq::pollitem_t item{asker.handle(), 0, ZMQ_POLLIN, 0};
      zpipe::poll_sockets(std::span(&item, 1), 50ms);
      while (zpipe::receive_parts(asker, parts) == 1)
        answers += std::holds_alternative<zpipe::Status>(zpipe::decode(zpipe::view(parts[0]))) ? 1 : 0;
    }
    CHECK(answers == 1);
    CHECK_THAT(run.log("ventilator"), Catch::Contains("dropped a status request"));
  }

  const auto watched = ask_status(run, {"--ventilator", run.ventilator_endpoint, "--json", "--watch", "200ms",
                                        "--iterations", "3"}, "status-watch");
  REQUIRE(watched.exit_code == 0);
  CHECK(read_lines(run.dir / "status-watch.out").size() == 3);

  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  every_task_once(run.results(), 400);
  // Asking never disturbs the job: nothing was rejected or refused.
  CHECK_THAT(run.log("ventilator"), Catch::Contains("rejected 0 worker and 0 sink message(s); refused 0"));

  const auto gone = ask_status(run, {"--ventilator", run.ventilator_endpoint, "--timeout", "300ms"}, "status-gone");
  CHECK(gone.exit_code == 3);
  CHECK(gone.out.empty());
  CHECK_THAT(gone.err, Catch::Contains("no answer from a ventilator at " + run.ventilator_endpoint + " within 300 ms"));
}

TEST_CASE("with keys, an observer or a worker may ask for status, a stranger is refused, and an observer is dealt nothing") {
  JobRun run;
  write_slow_tasks(run);
  const KeyRing keys(run.dir.path(), {"good"}, {"stranger", "watcher"});
  fs::create_directories(keys.dir / "observers");
  fs::copy_file(keys.pub("watcher"), keys.dir / "observers" / "watcher.pub");
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind",
                                                             "sleep", "--allow-observers", (keys.dir / "observers").string()} +
                                    keys.ventilator());
  run.worker(keys.worker("good"));
  REQUIRE(eventually([&] { return run.results().size() >= 10; }, 20s));

  const auto as = [&](const std::string& name) {
    return std::vector<std::string>{"--ventilator", run.ventilator_endpoint, "--json", "--timeout", "3s",
                                    "--curve-secret", keys.key(name), "--ventilator-key", keys.pub("ventilator")};
  };
  for (const char* name : {"watcher", "good"}) {
    const auto asked = ask_status(run, as(name), std::string("status-") + name);
    INFO(name << ": " << asked.out << asked.err);
    CHECK(asked.exit_code == 0);
    // The worker is named by its key, and shown as connected.
    CHECK_THAT(asked.out, Catch::Contains("{\"name\":\"good\""));
  }
  const auto stranger = ask_status(run, as("stranger"), "status-stranger");
  CHECK(stranger.exit_code == 3);
  CHECK(stranger.out.empty());
  CHECK_THAT(stranger.err, Catch::Contains("refused") && Catch::Contains("--allow-observers"));

  // An observer's key may ask, and nothing else: its hello is refused and it is dealt nothing.
  RogueWorker observer(keys.pair("watcher"), run.ventilator_endpoint, keys.z85("ventilator"), run.sink_endpoint,
                       keys.z85("sink"));
  observer.to_ventilator(zpipe::Hello{"watcher", 16});
  std::size_t dealt_to_observer = 0;
  const auto refused = [&] {
    return run.log("ventilator").find("hello from key 'watcher', which is not (or no longer) allowed as a worker") !=
           std::string::npos;
  };
  observer.serve(10s, [&](const zpipe::TaskBatch& tasks) { dealt_to_observer += tasks.tasks.size(); }, refused);
  CHECK(refused());
  observer.serve(500ms, [&](const zpipe::TaskBatch& tasks) { dealt_to_observer += tasks.tasks.size(); });
  CHECK(dealt_to_observer == 0);
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  for (const auto& [id, result] : every_task_once(run.results(), 400)) REQUIRE(result.worker == "good");
}

TEST_CASE("a worker's key that loses only its observer role keeps working and keeps its tasks") {
  JobRun run;
  write_slow_tasks(run);
  const KeyRing keys(run.dir.path(), {"good"});
  fs::create_directories(keys.dir / "observers");
  fs::copy_file(keys.pub("good"), keys.dir / "observers" / "good.pub");
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind",
                                                             "sleep", "--allow-observers", (keys.dir / "observers").string()} +
                                    keys.ventilator());
  run.worker(keys.worker("good"));
  REQUIRE(eventually([&] { return run.results().size() >= 10; }, 20s));
  fs::remove(keys.dir / "observers" / "good.pub");
  REQUIRE(eventually([&] { return run.log("ventilator").find("lost its observer role") != std::string::npos; }, 5s));
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  for (const auto& [id, result] : every_task_once(run.results(), 400)) REQUIRE(result.worker == "good");
  CHECK_THAT(run.log("ventilator"), !Catch::Contains("task(s) again") && Catch::Contains("0 dealt again"));
}
