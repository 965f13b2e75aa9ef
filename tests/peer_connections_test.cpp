// PeerConnections on real TCP connections: a closed or killed peer is
// reported gone, once, within milliseconds; others are not; memory stays
// bounded over many connections; messages without a connection are ignored.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <zmq.hpp>

#include "zpipe/peer_connections.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A ROUTER on an ephemeral loopback port, its PeerConnections, and a loop
// like the ventilator's that records what it received and who is gone.
class Router {
 public:
  Router() {
    socket.set(zmq::sockopt::linger, 0);
    socket.bind("tcp://127.0.0.1:*");
    endpoint = socket.get(zmq::sockopt::last_endpoint);
  }

  /// Polls until `done` holds or `limit` passes. Returns whether it holds.
  bool pump_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 2000ms) {
    const auto deadline = Clock::now() + limit;
    while (!done()) {
      const auto now = Clock::now();
      if (now >= deadline) return false;
      zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0},
                                 {peers.monitor_socket().handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
      receive();
      if ((items[1].revents & ZMQ_POLLIN) != 0 || peers.any_gone())
        for (auto& id : peers.take_gone()) gone.push_back(std::move(id));
    }
    return true;
  }

  bool received_from(const std::string& id) const {
    return std::find(senders.begin(), senders.end(), id) != senders.end();
  }
  bool reported_gone(const std::string& id) const { return std::count(gone.begin(), gone.end(), id) > 0; }

  zmq::context_t context{1};
  zmq::socket_t socket{context, zmq::socket_type::router};
  zpipe::PeerConnections peers{context, socket, "test router"};
  std::string endpoint;
  std::vector<std::string> senders;  // routing id of each message received
  std::vector<std::string> gone;

 private:
  void receive() {
    zmq::message_t id;
    zmq::message_t body;
    while (socket.recv(id, zmq::recv_flags::dontwait)) {
      REQUIRE(socket.recv(body, zmq::recv_flags::dontwait));
      peers.seen(id.to_string_view(), body);
      senders.push_back(id.to_string());
    }
  }
};

zmq::socket_t connected_dealer(zmq::context_t& context, const std::string& endpoint, const std::string& id) {
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::routing_id, id);
  dealer.connect(endpoint);
  dealer.send(zmq::str_buffer("hello"), zmq::send_flags::none);
  return dealer;
}

}  // namespace

TEST_CASE("a closed peer is reported gone, once, and the other peer is not") {
  Router router;
  zmq::socket_t alpha = connected_dealer(router.context, router.endpoint, "alpha");
  zmq::socket_t beta = connected_dealer(router.context, router.endpoint, "beta");
  REQUIRE(router.pump_until([&] { return router.received_from("alpha") && router.received_from("beta"); }));
  CHECK(router.peers.size() == 2);

  const auto closed_at = Clock::now();
  alpha.close();
  REQUIRE(router.pump_until([&] { return router.reported_gone("alpha"); }));
  const auto latency = std::chrono::duration<double, std::milli>(Clock::now() - closed_at).count();
  std::cout << "peer_connections: a closed DEALER was reported gone after " << latency << " ms\n";

  beta.send(zmq::str_buffer("still here"), zmq::send_flags::none);
  REQUIRE(router.pump_until([&] { return router.senders.size() == 3; }));
  CHECK(router.gone == std::vector<std::string>{"alpha"});
  CHECK(router.peers.size() == 1);
  CHECK(router.peers.health().disconnects() == 1);
}

TEST_CASE("a forgotten peer is not reported when its connection closes") {
  Router router;
  zmq::socket_t alpha = connected_dealer(router.context, router.endpoint, "alpha");
  REQUIRE(router.pump_until([&] { return router.received_from("alpha"); }));
  router.peers.forget("alpha");
  CHECK(router.peers.size() == 0);
  alpha.close();
  // The disconnect is seen (LinkHealth counts it) yet nobody is reported.
  REQUIRE(router.pump_until([&] { return router.peers.health().disconnects() == 1; }));
  CHECK(router.gone.empty());
}

// Waits, without reading anything, until `socket` has something to read.
bool readable_within(zmq::socket_ref socket, std::chrono::milliseconds limit) {
  zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
  return zmq::poll(&item, 1, limit) == 1;
}

TEST_CASE("a new connection on a closed one's descriptor is not taken for the closed one") {
  Router router;
  zmq::socket_t first = connected_dealer(router.context, router.endpoint, "first");
  REQUIRE(router.pump_until([&] { return router.received_from("first"); }));
  REQUIRE(router.peers.take_gone().empty());
  first.close();
  // Once the router's I/O thread has reported the disconnect, the next
  // connection it accepts gets the lowest free descriptor: the closed one.
  // Its message is read before the monitor's events, the order that would
  // report it gone if seen() trusted a descriptor without reading them.
  REQUIRE(readable_within(router.peers.monitor_socket(), 2000ms));
  zmq::socket_t second = connected_dealer(router.context, router.endpoint, "second");
  REQUIRE(readable_within(router.socket, 2000ms));
  REQUIRE(router.pump_until([&] { return router.received_from("second") && router.reported_gone("first"); }));
  CHECK(router.gone == std::vector<std::string>{"first"});
  CHECK(router.peers.size() == 1);

  second.close();
  REQUIRE(router.pump_until([&] { return router.reported_gone("second"); }));
  CHECK(router.gone == std::vector<std::string>{"first", "second"});
  CHECK(router.peers.size() == 0);
}

TEST_CASE("a peer process killed with SIGKILL is reported gone within milliseconds") {
  // The child connects with a context of its own, created after the fork,
  // once the parent has written the endpoint into the pipe.
  int to_child[2];
  REQUIRE(pipe(to_child) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(to_child[1]);
    char endpoint[256] = {};
    const ssize_t length = read(to_child[0], endpoint, sizeof endpoint - 1);
    if (length <= 0) _exit(1);
    try {
      zmq::context_t context(1);
      zmq::socket_t dealer = connected_dealer(context, std::string(endpoint, static_cast<std::size_t>(length)), "child");
      for (;;) pause();  // until the parent kills it
    } catch (...) {
      _exit(1);
    }
  }
  close(to_child[0]);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reaper{child};

  Router router;
  REQUIRE(write(to_child[1], router.endpoint.data(), router.endpoint.size()) ==
          static_cast<ssize_t>(router.endpoint.size()));
  close(to_child[1]);
  REQUIRE(router.pump_until([&] { return router.received_from("child"); }, 5000ms));

  const auto killed_at = Clock::now();
  REQUIRE(kill(child, SIGKILL) == 0);
  REQUIRE(router.pump_until([&] { return router.reported_gone("child"); }));
  const auto latency = std::chrono::duration<double, std::milli>(Clock::now() - killed_at).count();
  std::cout << "peer_connections: a worker process killed with SIGKILL was reported gone after " << latency
            << " ms\n";
  CHECK(latency < 250.0);
  CHECK(router.gone == std::vector<std::string>{"child"});
  CHECK(router.peers.size() == 0);
}

TEST_CASE("many connections opened and closed leave nothing behind") {
  Router router;
  zmq::socket_t steady = connected_dealer(router.context, router.endpoint, "steady");
  REQUIRE(router.pump_until([&] { return router.received_from("steady"); }));
  std::size_t most = 0;
  constexpr int cycles = 300;
  for (int i = 0; i < cycles; ++i) {
    const std::string id = "peer-" + std::to_string(i);
    zmq::socket_t dealer = connected_dealer(router.context, router.endpoint, id);
    REQUIRE(router.pump_until([&] { return router.received_from(id); }));
    most = std::max(most, router.peers.size());
    dealer.close();
    REQUIRE(router.pump_until([&] { return router.reported_gone(id); }));
  }
  CHECK(most == 2);
  CHECK(router.peers.size() == 1);
  CHECK(router.gone.size() == cycles);
  CHECK_FALSE(router.reported_gone("steady"));
}

TEST_CASE("messages that came through no connection are ignored") {
  Router router;
  const zmq::message_t made_here("hello", 5);
  router.peers.seen("nobody", made_here);
  router.peers.seen("", made_here);
  CHECK(router.peers.size() == 0);
  CHECK(router.peers.take_gone().empty());
}
