// What a link's monitor events mean: a handshake that fails without a reason
// (libzmq's word for wrong CURVE keys, and for a handshake that timed out
// with a peer too busy to answer) ends a program only when it fails on every
// try of a link that never completed one.
#include <catch2/catch.hpp>

#include <zmq.hpp>

#include "zpipe/link_health.hpp"

namespace {

zmq_event_t event(std::uint16_t kind) {
  zmq_event_t e{};
  e.event = kind;
  return e;
}

}  // namespace

TEST_CASE("a handshake that fails without a reason means wrong keys only when every try fails") {
  zpipe::LinkHealth health("sink link");
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), "tcp://127.0.0.1:5557");
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), "tcp://127.0.0.1:5557");
  CHECK_FALSE(health.handshake_failure());
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), "tcp://127.0.0.1:5557");
  REQUIRE(health.handshake_failure());
  CHECK_THAT(*health.handshake_failure(), Catch::Contains("wrong public key"));
}

TEST_CASE("once a handshake succeeded, one that fails without a reason is a busy peer, not wrong keys") {
  // One ventilator with 10,000 workers connecting was too busy to finish its
  // handshake with the sink in time; the ventilator took that for wrong keys
  // and exited.
  zpipe::LinkHealth health("sink link");
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), "tcp://127.0.0.1:5557");
  health.record(event(ZMQ_EVENT_HANDSHAKE_SUCCEEDED), "tcp://127.0.0.1:5557");
  health.record(event(ZMQ_EVENT_DISCONNECTED), "tcp://127.0.0.1:5557");
  for (int i = 0; i < 10; ++i) health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL), "tcp://127.0.0.1:5557");
  CHECK_FALSE(health.handshake_failure());
  CHECK(health.handshakes() == 1);
  // A reason is still final: keys refused by the peer do not come right by waiting.
  health.record(event(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH), "tcp://127.0.0.1:5557");
  CHECK(health.handshake_failure());
}
