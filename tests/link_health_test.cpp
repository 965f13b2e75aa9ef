// What a link's monitor events mean: a handshake that fails without a reason
// (libzmq's word for wrong CURVE keys, and for a handshake that timed out
// with a peer too busy to answer) ends a program only when it fails on every
// try of a link that never completed one; a connection that drops with no
// retry after it is a link libzmq gave up on (it never reconnects after a
// protocol error), which only connecting again mends.
#include <catch2/catch.hpp>

#include <zmq.hpp>

#include "zpipe/link_health.hpp"

namespace {

using namespace std::chrono_literals;
using zpipe::LinkHealth;

constexpr const char* endpoint = "tcp://127.0.0.1:5557";
const LinkHealth::Clock::time_point t0 = LinkHealth::Clock::time_point{} + 1h;

zmq_event_t event(std::uint16_t kind) {
  zmq_event_t e{};
  e.event = kind;
  return e;
}

// A link whose connection finished its handshake, then dropped at t0.
LinkHealth dropped_link() {
  LinkHealth health("ventilator link");
  health.record(event(ZMQ_EVENT_CONNECT_DELAYED), endpoint, t0 - 2s);
  health.record(event(ZMQ_EVENT_CONNECTED), endpoint, t0 - 2s);
  health.record(event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED), endpoint, t0 - 2s);
  health.record(event(ZMQ_EVENT_DISCONNECTED), endpoint, t0);
  return health;
}

}  // namespace

TEST_CASE("a handshake that fails without a reason means wrong keys only when every try fails") {
  LinkHealth health("sink link");
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), endpoint, t0);
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), endpoint, t0);
  CHECK_FALSE(health.handshake_failure());
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), endpoint, t0);
  REQUIRE(health.handshake_failure());
  CHECK_THAT(*health.handshake_failure(), Catch::Contains("wrong public key"));
}

TEST_CASE("once a handshake succeeded, one that fails without a reason is a busy peer, not wrong keys") {
  // One ventilator with 10,000 workers connecting was too busy to finish its
  // handshake with the sink in time; the ventilator took that for wrong keys
  // and exited.
  LinkHealth health("sink link");
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), endpoint, t0);
  health.record(event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED), endpoint, t0);
  health.record(event(ZMQ_EVENT_DISCONNECTED), endpoint, t0);
  for (int i = 0; i < 10; ++i) health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), endpoint, t0);
  CHECK_FALSE(health.handshake_failure());
  CHECK(health.handshakes() == 1);
  // A reason is still final: keys refused by the peer do not come right by waiting.
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH), endpoint, t0);
  CHECK(health.handshake_failure());
}

TEST_CASE("a drop that libzmq follows with a retry, a connect or a handshake is not a link given up") {
  // libzmq's order after a connection error: DISCONNECTED, then at once
  // CONNECT_RETRIED (its reconnect timer), later CONNECT_DELAYED, CONNECTED
  // and the handshake. However long those take, the link is not given up.
  const auto sign = GENERATE(ZMQ_EVENT_CONNECT_RETRIED, ZMQ_EVENT_CONNECT_DELAYED, ZMQ_EVENT_CONNECTED,
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  LinkHealth health = dropped_link();
  health.record(event(static_cast<std::uint16_t>(sign)), endpoint, t0 + 10ms);
  CHECK_FALSE(health.given_up(t0 + LinkHealth::reconnect_grace));
  CHECK_FALSE(health.given_up(t0 + 1h));
}

TEST_CASE("a drop with nothing after it for the grace is a link libzmq gave up on") {
  // libzmq's order after a protocol error (a frame over ZMQ_MAXMSGSIZE):
  // DISCONNECTED, and nothing more, ever.
  LinkHealth health = dropped_link();
  CHECK_FALSE(health.up());
  CHECK_FALSE(health.given_up(t0));
  CHECK_FALSE(health.given_up(t0 + LinkHealth::reconnect_grace - 1ms));
  CHECK(health.given_up(t0 + LinkHealth::reconnect_grace));
  SECTION("events that say nothing of connecting again do not count as a sign") {
    health.record(event(ZMQ_EVENT_CLOSED), endpoint, t0 + 1ms);
    health.record(event(0xffff), endpoint, t0 + 2ms);
    health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), endpoint, t0 + 3ms);
    CHECK(health.given_up(t0 + LinkHealth::reconnect_grace));
  }
  SECTION("a second drop starts the grace again") {
    health.record(event(ZMQ_EVENT_CONNECT_RETRIED), endpoint, t0 + 1ms);
    health.record(event(ZMQ_EVENT_DISCONNECTED), endpoint, t0 + 5s);
    CHECK_FALSE(health.given_up(t0 + 5s + LinkHealth::reconnect_grace - 1ms));
    CHECK(health.given_up(t0 + 5s + LinkHealth::reconnect_grace));
  }
}

TEST_CASE("a link connected again by the program is down until its next handshake, then up and counted") {
  LinkHealth health = dropped_link();
  REQUIRE(health.given_up(t0 + 2s));
  health.connecting_again();  // libzmq reports no event for the program's own disconnect()
  CHECK_FALSE(health.given_up(t0 + 1h));
  CHECK_FALSE(health.up());
  CHECK(health.take_new_handshakes() == 1);  // the first connection's
  health.record(event(ZMQ_EVENT_CONNECT_DELAYED), endpoint, t0 + 2s);
  health.record(event(ZMQ_EVENT_CONNECTED), endpoint, t0 + 2s);
  health.record(event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED), endpoint, t0 + 3s);
  CHECK(health.up());
  CHECK(health.take_new_handshakes() == 1);
  CHECK(health.handshakes() == 2);
  CHECK(health.disconnects() == 1);
  CHECK_FALSE(health.given_up(t0 + 1h));
}

TEST_CASE("a connection up after drops that never finished a handshake is up, whatever the counts") {
  // A handshake that times out drops its connection too: more disconnects
  // than handshakes, yet the link is up.
  LinkHealth health = dropped_link();
  health.record(event(ZMQ_EVENT_CONNECT_RETRIED), endpoint, t0);
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), endpoint, t0 + 5s);
  health.record(event(ZMQ_EVENT_DISCONNECTED), endpoint, t0 + 5s);
  health.record(event(ZMQ_EVENT_CONNECT_RETRIED), endpoint, t0 + 5s);
  health.record(event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED), endpoint, t0 + 6s);
  CHECK(health.handshakes() == 2);
  CHECK(health.disconnects() == 2);
  CHECK(health.up());
}
