// Nobody in without an allowed key: the authorization matrix against both
// servers through the real binaries, revocation, raw garbage on the ports,
// key files that are wrong, and plaintext binds reachable from other hosts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "security/key_ring.hpp"
#include "security/raw_tcp.hpp"
#include "support/job_run.hpp"
#include "zpipe/connection_monitor.hpp"
#include "zpipe/curve.hpp"
#include "zpipe/sockets.hpp"

using namespace zpipe::testing;

namespace fs = std::filesystem;

namespace {


// Writes raw bytes to a TCP endpoint of this host, as an attacker would,
// then says it has nothing more and waits (5 s at most) for the server to
// drop the connection: by then the server has read every byte.
void send_raw(const std::string& endpoint, const std::string& bytes) {
  const int fd = connect_loopback(port_of(endpoint));
  const timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  CHECK(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::shutdown(fd, SHUT_WR);
  char discard[512];
  ssize_t got = 0;
  while ((got = ::read(fd, discard, sizeof discard)) > 0) {
  }
  const int error = got < 0 ? errno : 0;
  ::close(fd);
  INFO("reading from " << endpoint << " after the garbage: " << std::strerror(error));
  CHECK((got == 0 || error == ECONNRESET));  // not EAGAIN: the server did drop it in time
}

}  // namespace

TEST_CASE("with keys, only allowed workers take part, and every refused one exits and says why") {
  JobRun run;
  const KeyRing keys(run.dir.path());
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--count", "2000", "--kind", "spin", "--batch", "4"} +
                                    keys.ventilator());
  auto& good = run.worker(keys.worker("good"));
  auto& stranger = run.worker(keys.worker("stranger"));               // key in no allow-list
  auto& plaintext = run.worker({"--name", "plaintext"});               // no key at all
  auto& fooled = run.worker(keys.worker("good2", "stranger", "stranger"));  // right key, wrong server keys

  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  REQUIRE(good.wait_for(10s) == 0);
  for (auto [worker, log, reason] : {std::tuple{&stranger, "worker2", "refused authentication"},
                                     std::tuple{&plaintext, "worker3", "handshake"},
                                     std::tuple{&fooled, "worker4", "wrong public key for it"}}) {
    INFO(log);
    REQUIRE(worker->wait_for(10s) == 3);
    CHECK_THAT(run.log(log), Catch::Contains("cannot work") && Catch::Contains(reason));
  }
  for (const auto& [id, result] : every_task_once(run.results(), 2000)) REQUIRE(result.worker == "good");
  CHECK_THAT(run.log("sink") + run.log("ventilator"), Catch::Contains("is not in the allow-list"));
  // What a server sees of a client without keys, or with the wrong server
  // key, depends on how far the handshake got; each is refused with a reason.
  CHECK_THAT(run.log("sink") + run.log("ventilator"),
             Catch::Contains("one side uses CURVE keys and the other does not") ||
                 Catch::Contains("CURVE keys do not match") || Catch::Contains("failed without a reason"));
  CHECK_THAT(run.log("sink"), Catch::Contains("frames rejected: 0"));
}

TEST_CASE("a key removed from the allow-list is refused from then on, without a restart") {
  JobRun run;
  const KeyRing keys(run.dir.path());
  std::string lines;
  for (int i = 0; i < 300; ++i) lines += "20\n";  // 6 s for one worker: outlasts the revocation
  write_file(run.dir / "tasks.txt", lines);
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(
      std::vector<std::string>{"--input", (run.dir / "tasks.txt").string(), "--kind", "sleep"} + keys.ventilator());
  run.worker(keys.worker("good"));
  REQUIRE(eventually([&] { return run.results().size() >= 3; }, 20s));
  fs::remove(keys.dir / "workers" / "good2.pub");
  REQUIRE(eventually([&] { return run.log("ventilator").find("changed: 1 worker key(s) now") != std::string::npos; }, 5s));
  auto& revoked = run.worker(keys.worker("good2"));
  REQUIRE(revoked.wait_for(20s) == 3);
  CHECK_THAT(run.log("worker2"), Catch::Contains("refused authentication"));
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  for (const auto& [id, result] : every_task_once(run.results(), 300)) REQUIRE(result.worker == "good");
}

TEST_CASE("raw TCP garbage and a CURVE greeting followed by garbage do not disturb a job") {
  JobRun run;
  const KeyRing keys(run.dir.path());
  auto& sink = run.sink(keys.sink());
  auto& ventilator = run.ventilator(std::vector<std::string>{"--count", "2000", "--kind", "spin"} + keys.ventilator());
  run.worker(keys.worker("good"));
  REQUIRE(eventually([&] { return !run.results().empty(); }, 20s));

  std::string greeting("\xff\0\0\0\0\0\0\0\x01\x7f\x03\x00", 12);
  greeting += std::string("CURVE") + std::string(15, '\0') + std::string(1, '\0') + std::string(31, '\0');
  for (const auto& endpoint : {run.sink_endpoint, run.ventilator_endpoint}) {
    send_raw(endpoint, "GET / HTTP/1.1\r\nHost: zpipe\r\n\r\n");
    send_raw(endpoint, greeting + std::string(300, '\x42'));
  }
  REQUIRE(sink.wait_for(job_limit) == 0);
  REQUIRE(ventilator.wait_for(10s) == 0);
  every_task_once(run.results(), 2000);
  // libzmq drops such connections without a handshake event; they are
  // counted and logged as lost connections.
  CHECK_THAT(run.log("sink"), Catch::Contains("lost connection on the sink socket"));
  CHECK_THAT(run.log("ventilator"), Catch::Contains("lost connection on the worker socket"));
}

TEST_CASE("key files that are missing, malformed or readable by others are refused with what to do") {
  ScratchDir dir;
  zpipe::write_curve_key_pair((dir / "k").string(), zpipe::generate_curve_key_pair());
  struct stat status {};
  REQUIRE(::stat((dir / "k.key").c_str(), &status) == 0);
  CHECK((status.st_mode & 0777) == 0600);
  CHECK_THROWS_WITH(zpipe::write_curve_key_pair((dir / "k").string(), zpipe::generate_curve_key_pair()),
                    Catch::Contains("exists already"));

  write_file(dir / "bad.key", "not a key\n");
  ::chmod((dir / "bad.key").c_str(), 0600);
  write_file(dir / "open.key", read_file(dir / "k.key"));
  ::chmod((dir / "open.key").c_str(), 0644);
  auto [file, message] = GENERATE(table<std::string, std::string>({
      {"absent.key", "No such file"},
      {"bad.key", "does not hold a CURVE secret key"},
      {"open.key", "chmod 600"},
  }));
  ChildProcess sink({ZPIPE_SINK, "--curve-secret", (dir / file).string(), "--allow-workers", dir.path().string(),
                     "--allow-ventilators", dir.path().string()},
                    dir / "out", dir / "err");
  REQUIRE(sink.wait_for(10s) == 2);
  CHECK_THAT(read_file(dir / "err"), Catch::Contains(message) && Catch::Contains("--curve-secret"));
}

TEST_CASE("plaintext on an address other hosts can reach: a loud warning, or with --require-curve an error") {
  ScratchDir dir;
  const std::string endpoint = "tcp://0.0.0.0:*";
  {
    ChildProcess sink({ZPIPE_SINK, "--bind", endpoint}, dir / "out", dir / "err");
    CHECK_THAT(bound_endpoint(dir / "err", "collecting results at "), Catch::StartsWith("tcp://0.0.0.0:"));
    CHECK_THAT(read_file(dir / "err"), Catch::Contains("WARNING") && Catch::Contains("WITHOUT encryption"));
  }
  ChildProcess strict({ZPIPE_SINK, "--bind", endpoint, "--require-curve"}, dir / "out", dir / "err");
  REQUIRE(strict.wait_for(10s) == 2);
  CHECK_THAT(read_file(dir / "err"), Catch::Contains("--require-curve"));
}

TEST_CASE("a CURVE server whose authenticator is not running refuses every client: it fails closed") {
  // No ZapAuthenticator in this context: nothing answers ZAP requests.
  zmq::context_t context;
  const auto server_keys = zpipe::generate_curve_key_pair();
  zmq::socket_t server = zpipe::open_socket(context, zmq::socket_type::router);
  zpipe::make_curve_server(server, server_keys);
  const std::string endpoint = zpipe::bind_endpoint(server, "tcp://127.0.0.1:*", "bind");
  zmq::socket_t client = zpipe::open_socket(context, zmq::socket_type::dealer);
  zpipe::make_curve_client(client, zpipe::generate_curve_key_pair(), server_keys.public_key);
  zpipe::ConnectionMonitor link(client, "client link");
  client.connect(endpoint);
  REQUIRE(zpipe::send_frame(client, "let me in", false));

  std::vector<zmq::message_t> parts;
  std::size_t received = 0;
  const bool refused = eventually([&] {
    link.poll_handshakes();
    received += zpipe::receive_parts(server, parts);
    return link.handshake_failure().has_value();
  }, 10s);
  CHECK(refused);
  CHECK(link.handshakes() == 0);
  CHECK(received == 0);
}
