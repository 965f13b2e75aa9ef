// Who sent a frame, as the server's main thread sees it: the CURVE key the
// peer proved at its handshake, that key's name and its roles in the latest
// allow-list. Looked up once per connection and again whenever the
// allow-list changes, so removing a key's file takes its roles away from
// connections already open.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <zmq.hpp>

#include "zpipe/allow_list.hpp"
#include "zpipe/log.hpp"
#include "zpipe/peer_identity.hpp"

namespace zpipe {

class ZapAuthenticator;

class PeerTrust {
 public:
  /// A key that lost roles, with every open connection it has here.
  struct Revocation {
    std::string name;                // its key file's name
    Roles lost = 0;                  // the roles it lost
    std::vector<std::string> peers;  // the routing ids of its connections

    /// "key 'NAME' lost its ROLE role in the allow-list: refusing what it
    /// sends on its open connection": the caller adds what else it does.
    [[nodiscard]] std::string line() const;
  };

  /// Plaintext, where nobody proves anything: every peer has every role and
  /// no key (the README says what that means).
  PeerTrust() = default;
  /// CURVE: each peer is what `zap`'s latest allow-list says of its key.
  explicit PeerTrust(const ZapAuthenticator& zap) : zap_(&zap) {}

  /// The identity of the peer that sent `body` on a ROUTER socket; read
  /// from the frame's User-Id (set by our ZAP handler) on first sight.
  const PeerIdentity& of(const std::string& routing_id, const zmq::message_t& body);
  /// Keys that lost a role since the last call, one entry per key however
  /// many connections it has, for the caller to log once; cheap when the
  /// allow-list has not changed.
  std::vector<Revocation> take_revoked();
  /// A peer's connection closed: its entry goes.
  void forget(const std::string& routing_id) { peers_.erase(routing_id); }
  [[nodiscard]] std::size_t known() const { return peers_.size(); }

 private:
  const ZapAuthenticator* zap_ = nullptr;
  std::uint64_t generation_ = 0;
  std::unordered_map<std::string, PeerIdentity> peers_;
};

}  // namespace zpipe
