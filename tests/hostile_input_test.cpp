// An authenticated peer floods the sink, and a worker, with 100,000
// malformed frames during a job: nothing crashes, memory stays flat, the job
// completes, and every rejection is counted.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "support/job_run.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/curve.hpp"
#include "zpipe/sockets.hpp"

using namespace zpipe::testing;

namespace fs = std::filesystem;

namespace {

constexpr int flood_frames = 100'000;
// The bound on memory growth. AddressSanitizer's allocator keeps freed
// memory for a while, so under it only runaway growth is caught.
#ifdef ZPIPE_SANITIZED
constexpr std::uint64_t growth_kib_at_most = 150 * 1024;
#else
constexpr std::uint64_t growth_kib_at_most = 50 * 1024;
#endif

std::uint64_t resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  return 0;
}

// The i-th malformed frame: random bytes, truncated or ill-typed messages,
// deep nesting, and lengths that declare gigabytes.
std::string malformed_frame(int i, std::mt19937& random) {
  static const std::string task = zpipe::encode(zpipe::Message{
      zpipe::TaskBatch{1, "square", {{1, zpipe::Value{std::int64_t{2}}}, {2, zpipe::Value{std::string("x")}}}}});
  switch (i % 8) {
    case 0: {
      std::string bytes(std::uniform_int_distribution(1, 200)(random), '\0');
      for (auto& byte : bytes) byte = static_cast<char>(random());
      return bytes;
    }
    case 1: return task.substr(0, 1 + static_cast<std::size_t>(i) % (task.size() - 1));     // truncated
    case 2: return std::string("\x94\x01\x01\xa8intruder\x04", 13);                          // protocol version 1
    case 3: return std::string(1000, '\x91') + "\x01";                                       // nested 1000 deep
    case 4: return "\xdd\xff\xff\xff\xff";                                                   // array of 4G
    case 5: return std::string("\x93\x02\x04\xdb\xff\xff\xff\xf0", 8);                       // str of 4 GB
    case 6: return std::string("\x97\x02\x03\x07\xc6\x7f\xff\xff\xff", 9);                  // bin of 2 GB
    default: return std::string("\x98\x02\x04\x07\xa1\x77\x91\x01\x91\xc3\x91\xc1", 12);     // reserved byte c1
  }
}

}  // namespace

TEST_CASE("an authenticated peer floods the sink with 100,000 malformed frames during a job") {
  JobRun run;
  for (const char* name : {"sink", "ventilator", "worker", "intruder"})
    zpipe::write_curve_key_pair((run.dir / name).string(), zpipe::generate_curve_key_pair());
  fs::create_directories(run.dir / "allow");
  fs::create_directories(run.dir / "allow-ventilators");
  for (const char* name : {"worker", "intruder"})
    fs::copy_file(run.dir / (std::string(name) + ".pub"), run.dir / "allow" / (std::string(name) + ".pub"));
  fs::copy_file(run.dir / "ventilator.pub", run.dir / "allow-ventilators" / "ventilator.pub");
  const auto key = [&](const char* name, const char* suffix) { return (run.dir / (std::string(name) + suffix)).string(); };

  auto& sink = run.sink({"--curve-secret", key("sink", ".key"), "--allow-workers", (run.dir / "allow").string(),
                         "--allow-ventilators", (run.dir / "allow-ventilators").string()});
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += "20\n";  // 4 s of sleep tasks: the job outlasts the flood
  write_file(run.dir / "tasks.txt", lines);
  auto& ventilator = run.ventilator({"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep", "--curve-secret",
                                     key("ventilator", ".key"), "--allow-workers", (run.dir / "allow").string(),
                                     "--sink-key", key("sink", ".pub")});
  run.worker({"--name", "worker", "--curve-secret", key("worker", ".key"), "--ventilator-key", key("ventilator", ".pub"),
              "--sink-key", key("sink", ".pub")});
  REQUIRE(eventually([&] { return !run.results().empty(); }, 20s));
  const std::uint64_t before = resident_kib(sink.pid());

  zmq::context_t context;
  zmq::socket_t intruder = zpipe::open_socket(context, zmq::socket_type::dealer);
  zpipe::make_curve_client(intruder, zpipe::read_secret_key_file(key("intruder", ".key"), "test"),
                           zpipe::read_public_key_file(key("sink", ".pub"), "test"));
  intruder.connect(run.sink_endpoint);
  std::mt19937 random(4);
  for (int i = 0; i < flood_frames; ++i) REQUIRE(zpipe::send_frame(intruder, malformed_frame(i, random)));
  REQUIRE(eventually([&] { return run.log("sink").find("[" + std::to_string(flood_frames)) != std::string::npos ||
                                  sink.wait_for(0ms).has_value(); }, 30s));
  const std::uint64_t after = resident_kib(sink.pid());
  // Last, frames over the 16 MiB limit: libzmq drops the peer before
  // buffering them, so they are never decoded.
  zpipe::send_frame(intruder, std::string(17 * 1024 * 1024, '\x90'));

  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  every_task_once(run.results(), 200);
  CHECK_THAT(run.log("sink"), Catch::Contains("frames rejected: " + std::to_string(flood_frames)));
  INFO("sink RSS before the flood " << before << " KiB, after " << after << " KiB");
  CHECK(after < before + growth_kib_at_most);
}

TEST_CASE("an authenticated ventilator floods a worker with 100,000 malformed frames between real tasks") {
  ScratchDir dir;
  for (const char* name : {"ventilator", "worker"})
    zpipe::write_curve_key_pair((dir / name).string(), zpipe::generate_curve_key_pair());
  // The test plays the ventilator and the sink, both CURVE servers with one
  // key pair (no ZAP handler in this context: they admit any client).
  const auto server_keys = zpipe::read_secret_key_file((dir / "ventilator.key").string(), "test");
  zmq::context_t context;
  zmq::socket_t ventilator = zpipe::open_socket(context, zmq::socket_type::router, zpipe::task_link_settings());
  zmq::socket_t sink = zpipe::open_socket(context, zmq::socket_type::router);
  for (auto* server : {&ventilator, &sink}) {
    server->set(zmq::sockopt::curve_server, true);
    server->set(zmq::sockopt::curve_secretkey, server_keys.secret_key);
  }
  const std::string ventilator_endpoint = zpipe::bind_endpoint(ventilator, "tcp://127.0.0.1:*", "bind");
  const std::string sink_endpoint = zpipe::bind_endpoint(sink, "tcp://127.0.0.1:*", "bind");
  ChildProcess worker({ZPIPE_WORKER, "--ventilator", ventilator_endpoint, "--sink", sink_endpoint, "--once",
                       "--curve-secret", (dir / "worker.key").string(), "--ventilator-key", (dir / "ventilator.pub").string(),
                       "--sink-key", (dir / "ventilator.pub").string()},
                      dir / "out", dir / "err");
  std::vector<zmq::message_t> parts;
  std::string worker_id;
  REQUIRE(eventually([&] {
    if (zpipe::receive_parts(ventilator, parts) == 2) worker_id = std::string(zpipe::view(parts[0]));
    return !worker_id.empty();
  }, 10s));
  const std::uint64_t before = resident_kib(worker.pid());
  std::mt19937 random(7);
  for (int i = 0; i < flood_frames; ++i) {
    REQUIRE(eventually([&] { return zpipe::send_to(ventilator, worker_id, malformed_frame(i, random)); }, 10s));
    while (zpipe::receive_parts(ventilator, parts) > 0) {  // keep-alives
    }
  }
  // A real task after the flood: its result means the flood is behind.
  const zpipe::TaskBatch real{1, "square", {{41, zpipe::Value{std::int64_t{41}}}}};
  REQUIRE(zpipe::send_to(ventilator, worker_id, zpipe::encode(zpipe::Message{real})));
  bool answered = false;
  REQUIRE(eventually([&] {
    while (zpipe::receive_parts(sink, parts) == 2) {
      const auto results = std::get<zpipe::ResultBatch>(zpipe::decode(zpipe::view(parts[1])));
      for (const auto& result : results.results) answered |= result.id == 41 && result.value == zpipe::Value{std::int64_t{1681}};
    }
    return answered;
  }, 30s));
  const std::uint64_t after = resident_kib(worker.pid());
  REQUIRE(zpipe::send_to(ventilator, worker_id, zpipe::encode(zpipe::JobEnd{1, true})));
  REQUIRE(worker.wait_for(20s) == 0);
  CHECK_THAT(read_file(dir / "err"), Catch::Contains("frames rejected: " + std::to_string(flood_frames)));
  INFO("worker RSS before the flood " << before << " KiB, after " << after << " KiB");
  CHECK(after < before + growth_kib_at_most);
}
