// CURVE keys: generating them, reading them from files with checks that say
// what is wrong, and putting them on sockets. A server socket with keys also
// requires ZAP (ZMQ_ZAP_ENFORCE_DOMAIN), so if no authenticator answers,
// nobody is admitted: it fails closed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "zpipe/allow_list.hpp"

namespace zpipe {

/// Z85-encoded keys, 40 characters each.
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

/// The keys a program was given: its own pair, and the public keys of the
/// servers it connects to. Empty: plaintext.
struct CurveConfig {
  std::optional<CurveKeyPair> own;  // --curve-secret FILE
  std::vector<AllowListSource> allow;  // --allow-workers, --allow-ventilators (servers)
  bool require = false;             // --require-curve

  [[nodiscard]] bool enabled() const { return own.has_value(); }
};

[[nodiscard]] CurveKeyPair generate_curve_key_pair();

/// Writes BASE.key (the secret, mode 0600) and BASE.pub. Throws
/// std::runtime_error, and overwrites nothing, if either exists.
void write_curve_key_pair(const std::string& base, const CurveKeyPair& keys);

/// Reads a secret key file (as written by zpipe-keygen) and derives its
/// public key. Throws usage_error saying what is wrong: missing, unreadable,
/// malformed, or readable by others than its owner.
[[nodiscard]] CurveKeyPair read_secret_key_file(const std::string& path, const std::string& option);

/// Reads a public key file. Throws usage_error saying what is wrong.
[[nodiscard]] std::string read_public_key_file(const std::string& path, const std::string& option);

/// Returns the 32-byte binary form of a Z85 key, or nullopt if it is not one.
[[nodiscard]] std::optional<std::string> decode_z85_key(const std::string& z85);

/// Makes `socket` a CURVE server that admits only whom ZAP allows.
void make_curve_server(zmq::socket_t& socket, const CurveKeyPair& own);
/// Makes `socket` a CURVE client of the server with `server_public_key`.
void make_curve_client(zmq::socket_t& socket, const CurveKeyPair& own, const std::string& server_public_key);

/// True for endpoints only this host can reach: ipc, inproc, and tcp on
/// 127.0.0.0/8, ::1 or localhost.
[[nodiscard]] bool is_loopback_endpoint(const std::string& endpoint);

/// Before binding `endpoint` in plaintext: an error with --require-curve,
/// a loud warning when it is reachable from other hosts.
void check_plaintext_bind(const std::string& endpoint, const CurveConfig& curve, const std::string& option);

}  // namespace zpipe
