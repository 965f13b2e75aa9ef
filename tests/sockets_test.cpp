// Sending without a copy (send_frame_taking, send_to_taking) over real
// sockets: a large frame that went is the receiver's byte for byte and the
// sender's string is empty; one that could not go is still the sender's,
// whole, to send again. And FrameReceiver's pass that a caller bounds.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "zpipe/codec.hpp"
#include "zpipe/frame_receiver.hpp"
#include "zpipe/sockets.hpp"

namespace {

// Bytes that differ from one offset to the next, so a shifted or cut copy shows.
std::string patterned(std::size_t size) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 131 % 251);
  return bytes;
}

std::string received(zmq::socket_t& socket) {
  socket.set(zmq::sockopt::rcvtimeo, 5000);
  zmq::message_t message;
  REQUIRE(socket.recv(message));
  return message.to_string();
}

}  // namespace

TEST_CASE("a large frame is sent without a copy, and kept whole when it cannot be sent") {
  zmq::context_t context;
  zmq::socket_t push(context, zmq::socket_type::push);
  push.set(zmq::sockopt::linger, 0);
  push.set(zmq::sockopt::sndtimeo, 5000);  // a send that waits for the peer waits 5 s at most
  push.bind("tcp://127.0.0.1:*");
  const std::string endpoint = push.get(zmq::sockopt::last_endpoint);
  const std::string sent = patterned(1 << 20);

  // No peer yet: a PUSH socket has nowhere to queue it.
  std::string frame = sent;
  CHECK_FALSE(zpipe::send_frame_taking(push, frame, false));
  CHECK(frame == sent);

  zmq::socket_t pull(context, zmq::socket_type::pull);
  pull.set(zmq::sockopt::linger, 0);
  pull.connect(endpoint);
  REQUIRE(zpipe::send_frame_taking(push, frame, true));
  CHECK(frame.empty());
  CHECK(received(pull) == sent);

  // A small frame is copied, and stays the caller's.
  std::string small = "credit";
  REQUIRE(zpipe::send_frame_taking(push, small, true));
  CHECK(small == "credit");
  CHECK(received(pull) == "credit");
}

TEST_CASE("a large frame reaches an in-process receiver in the very buffer the sender encoded it in") {
  // inproc hands messages over without copying: the buffer the receiver
  // reads is the sender's string's own, unless send_frame_taking copied it.
  zmq::context_t context;
  zmq::socket_t pull(context, zmq::socket_type::pull);
  pull.bind("inproc://taking");
  zmq::socket_t push(context, zmq::socket_type::push);
  push.set(zmq::sockopt::sndtimeo, 5000);
  push.connect("inproc://taking");
  std::string frame = patterned(64 * 1024);
  const std::string sent = frame;
  const void* buffer = frame.data();
  REQUIRE(zpipe::send_frame_taking(push, frame, true));
  pull.set(zmq::sockopt::rcvtimeo, 5000);
  zmq::message_t message;
  REQUIRE(pull.recv(message));
  CHECK(message.data() == buffer);
  CHECK(message.to_string() == sent);
}

TEST_CASE("a large frame goes through a ROUTER without a copy, and stays the sender's when the peer is unknown") {
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::router_mandatory, true);
  router.bind("tcp://127.0.0.1:*");
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::routing_id, "w1");
  dealer.connect(router.get(zmq::sockopt::last_endpoint));
  dealer.send(zmq::str_buffer("hello"), zmq::send_flags::none);
  router.set(zmq::sockopt::rcvtimeo, 5000);
  zmq::message_t peer;
  zmq::message_t hello;
  REQUIRE(router.recv(peer));
  REQUIRE(router.recv(hello));
  REQUIRE(peer.to_string() == "w1");

  const std::string sent = patterned(256 * 1024);
  std::string frame = sent;
  CHECK_FALSE(zpipe::send_to_taking(router, "nobody", frame));
  CHECK(frame == sent);
  REQUIRE(zpipe::send_to_taking(router, "w1", frame));
  CHECK(frame.empty());
  CHECK(received(dealer) == sent);
}

TEST_CASE("a socket thousands connect to holds no heartbeat timer per peer, and its clients ask for none") {
  // libzmq 4.3 cancels a heartbeat timer by scanning all its I/O thread's
  // timers, once per message on a connection that has one: with 10,000
  // workers that scan took the ventilator's I/O thread whole.
  zmq::context_t context;
  zmq::socket_t server = zpipe::open_socket(context, zmq::socket_type::router, zpipe::server_settings());
  CHECK(server.get(zmq::sockopt::heartbeat_ivl) == 0);
  CHECK(server.get(zmq::sockopt::tcp_keepalive) == 1);  // a vanished host's connection still closes
  zmq::socket_t client = zpipe::open_socket(context, zmq::socket_type::dealer, zpipe::client_settings());
  CHECK(client.get(zmq::sockopt::heartbeat_ivl) > 0);  // the worker notices a server that is gone
  CHECK(client.get(zmq::sockopt::heartbeat_ttl) == 0);  // and gives the server no timer for itself
  zmq::socket_t plain = zpipe::open_socket(context, zmq::socket_type::dealer);
  CHECK(plain.get(zmq::sockopt::heartbeat_ttl) > 0);  // the ventilator's one link to the sink keeps its TTL
}

namespace {

// A ROUTER and a DEALER connected in-process: each message is queued at the
// router when its send returns, so what a pass leaves is known to wait.
struct ReceivePass {
  ReceivePass() {
    router.set(zmq::sockopt::linger, 0);
    router.bind("inproc://receive-pass");
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect("inproc://receive-pass");
  }
  void send_credit(std::uint32_t batches) {
    REQUIRE(dealer.send(zmq::buffer(zpipe::encode(zpipe::Credit{batches})), zmq::send_flags::none));
  }
  // Passes, each stopped by `more`, until `done` (5 s at most); returns what
  // the last pass said: whether it drained the socket.
  template <class Handle, class More, class Done>
  bool receive_until(Handle handle, More more, Done done) {
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool drained = true;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      drained = receiver.receive_routed(router, handle, more);
    }
    return drained;
  }
  zmq::context_t context;
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t dealer{context, zmq::socket_type::dealer};
  zpipe::FrameReceiver receiver{"message from a test"};
};

}  // namespace

TEST_CASE("a receive pass stops where the caller says, leaves the rest waiting, and says when it drained the socket") {
  ReceivePass pass;
  for (std::uint32_t credit = 1; credit <= 5; ++credit) pass.send_credit(credit);
  std::vector<std::uint32_t> seen;
  const auto handle = [&](const std::string&, std::string_view, const zpipe::Message& message) {
    seen.push_back(std::get<zpipe::Credit>(message).batches);
  };
  // Passes that stop at two messages: the last one was stopped, not drained.
  const bool drained = pass.receive_until(handle, [&] { return seen.size() < 2; }, [&] { return seen.size() >= 2; });
  REQUIRE(seen == std::vector<std::uint32_t>{1, 2});
  CHECK_FALSE(drained);
  // The rest waited for the next passes, in order.
  CHECK(pass.receive_until(handle, [] { return true; }, [&] { return seen.size() >= 5; }));
  CHECK(seen == std::vector<std::uint32_t>{1, 2, 3, 4, 5});
}

TEST_CASE("a receive pass whose budget ends as the socket empties says it drained it") {
  ReceivePass pass;
  pass.send_credit(1);
  int seen = 0;
  const auto handle = [&](const std::string&, std::string_view, const zpipe::Message&) { ++seen; };
  const bool drained = pass.receive_until(handle, [&] { return seen < 1; }, [&] { return seen >= 1; });
  REQUIRE(seen == 1);
  CHECK((pass.router.get(zmq::sockopt::events) & ZMQ_POLLIN) == 0);  // nothing waits
  CHECK(drained);
}
