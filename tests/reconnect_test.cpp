// A link that libzmq gave up on is connected again. libzmq 4.3 reconnects
// after a connection error, but after a ZMTP protocol error (here a frame
// over the receiver's 16 MiB ZMQ_MAXMSGSIZE) it ends the endpoint's session
// and never tries it again: a job with one worker hung. The tests play the
// ventilator and the sink (ROUTERs on ephemeral loopback ports) around a
// real zpipe-worker, and the sink around a real zpipe-ventilator.
#include <catch2/catch.hpp>

#include "support/job_run.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/sockets.hpp"

using namespace zpipe::testing;

namespace {

// One byte over every program's ZMQ_MAXMSGSIZE.
const std::string oversized(static_cast<std::size_t>(zpipe::SocketSettings{}.max_message_bytes) + 1, '\x90');

// A fake peer: a ROUTER bound on an ephemeral loopback port.
struct FakeServer {
  explicit FakeServer(zmq::context_t& context, const zpipe::SocketSettings& settings = {})
      : socket(zpipe::open_socket(context, zmq::socket_type::router, settings)),
        endpoint(zpipe::bind_endpoint(socket, "tcp://127.0.0.1:*", "bind")) {}

  // Waits at most `limit` for a message of type T, from a peer other than
  // `not_from` when it is given. Returns the sender's routing id and the
  // message, or nothing in time. Other messages (keep-alives) are dropped.
  template <class T>
  std::optional<std::pair<std::string, T>> next(std::chrono::milliseconds limit, const std::string& not_from = "") {
    std::optional<std::pair<std::string, T>> found;
    eventually([&] {
      while (!found && zpipe::receive_parts(socket, parts) == 2) {
        const std::string from(zpipe::view(parts[0]));
        auto message = zpipe::decode(zpipe::view(parts[1]));
        if (auto* wanted = std::get_if<T>(&message); wanted && from != not_from) found.emplace(from, std::move(*wanted));
      }
      return found.has_value();
    }, limit);
    return found;
  }

  zmq::socket_t socket;
  std::string endpoint;
  std::vector<zmq::message_t> parts;
};

// The ventilator and the sink that one worker connects to.
struct FakeJob {
  zmq::context_t context;
  FakeServer ventilator{context, zpipe::task_link_settings()};  // the task link's queues, as the real one
  FakeServer sink{context};
  ScratchDir dir;

  ChildProcess start_worker() {
    return ChildProcess({ZPIPE_WORKER, "--ventilator", ventilator.endpoint, "--sink", sink.endpoint, "--name", "w"},
                        dir / "worker.out", dir / "worker.err");
  }

  // Deals task `id` (square of id) to the worker at `peer`; returns the
  // routing id of the sink connection its result came by, or empty when it
  // did not come in time.
  std::string square_through(const std::string& peer, std::int64_t id) {
    const zpipe::TaskBatch task{1, "square", {{static_cast<zpipe::TaskId>(id), zpipe::Value{id}}}};
    if (!zpipe::send_to(ventilator.socket, peer, zpipe::encode(zpipe::Message{task}))) return {};
    const auto results = sink.next<zpipe::ResultBatch>(10s);
    if (!results || results->second.results.size() != 1) return {};
    const auto& result = results->second.results.front();
    return result.id == static_cast<zpipe::TaskId>(id) && result.value == zpipe::Value{id * id} ? results->first : "";
  }
};

}  // namespace

TEST_CASE("a worker whose ventilator link libzmq dropped for a frame over its limit connects again") {
  FakeJob job;
  ChildProcess worker = job.start_worker();
  const auto hello = job.ventilator.next<zpipe::Hello>(10s);
  REQUIRE(hello);
  REQUIRE(zpipe::send_to(job.ventilator.socket, hello->first, oversized));

  // A new connection has a new routing id (the worker sets none).
  const auto again = job.ventilator.next<zpipe::Hello>(10s, hello->first);
  INFO("worker:\n" << read_file(job.dir / "worker.err"));
  REQUIRE(again);
  CHECK(again->second.worker == "w");
  CHECK_FALSE(job.square_through(again->first, 7).empty());
  CHECK_THAT(read_file(job.dir / "worker.err"),
             Catch::Contains("reconnected the ventilator link") && Catch::Contains("connecting again"));
}

TEST_CASE("a worker whose sink link libzmq dropped for a frame over its limit connects again and its results get through") {
  FakeJob job;
  ChildProcess worker = job.start_worker();
  const auto hello = job.ventilator.next<zpipe::Hello>(10s);
  REQUIRE(hello);
  const std::string first_sink_link = job.square_through(hello->first, 3);
  REQUIRE_FALSE(first_sink_link.empty());
  REQUIRE(zpipe::send_to(job.sink.socket, first_sink_link, oversized));

  // Once its new sink link is up the worker says hello again: results on
  // the broken link may be lost, and the ventilator deals them again.
  const auto again = job.ventilator.next<zpipe::Hello>(10s);
  INFO("worker:\n" << read_file(job.dir / "worker.err"));
  REQUIRE(again);
  const std::string second_sink_link = job.square_through(again->first, 4);
  REQUIRE_FALSE(second_sink_link.empty());
  CHECK(second_sink_link != first_sink_link);
  CHECK_THAT(read_file(job.dir / "worker.err"),
             Catch::Contains("reconnected the sink link") && Catch::Contains("connecting again"));
}

TEST_CASE("a ventilator whose sink link libzmq dropped for a frame over its limit connects again") {
  zmq::context_t context;
  FakeServer sink(context);
  ScratchDir dir;
  ChildProcess ventilator({ZPIPE_VENTILATOR, "--count", "10", "--bind", "tcp://127.0.0.1:*", "--sink", sink.endpoint},
                          dir / "ventilator.out", dir / "ventilator.err");
  const auto manifest = sink.next<zpipe::JobManifest>(10s);
  REQUIRE(manifest);
  REQUIRE(zpipe::send_to(sink.socket, manifest->first, oversized));

  // The manifest is sent again until the sink answers; from a new routing
  // id only on a new connection.
  const auto again = sink.next<zpipe::JobManifest>(10s, manifest->first);
  INFO("ventilator:\n" << read_file(dir / "ventilator.err"));
  REQUIRE(again);
  CHECK(again->second.job == manifest->second.job);
  CHECK_THAT(read_file(dir / "ventilator.err"),
             Catch::Contains("reconnected the sink link") && Catch::Contains("connecting again"));
}
