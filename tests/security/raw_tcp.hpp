// A raw TCP connection to a port of this host, as an attacker opens one:
// no ZMTP, no CURVE, just a socket.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

namespace zpipe::testing {

/// The port of "tcp://HOST:PORT".
inline int port_of(const std::string& endpoint) { return std::stoi(endpoint.substr(endpoint.rfind(':') + 1)); }

/// A connected socket to 127.0.0.1:port; fails the test when it cannot
/// connect within 5 s (a server that stopped accepting fills its backlog,
/// and a connect then waits on SYN retries for minutes).
inline int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  const timeval limit{5, 0};  // Linux bounds a blocking connect by SO_SNDTIMEO
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) == 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

}  // namespace zpipe::testing
