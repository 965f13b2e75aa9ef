// See peer_trust.hpp.
#include "zpipe/peer_trust.hpp"

#include "zpipe/curve.hpp"
#include "zpipe/zap_authenticator.hpp"

namespace zpipe {

const PeerIdentity& PeerTrust::of(const std::string& routing_id, const zmq::message_t& body) {
  if (const auto known = peers_.find(routing_id); known != peers_.end()) return known->second;
  PeerIdentity identity;
  if (const char* address = zmq_msg_gets(body.handle(), "Peer-Address")) identity.address = address;
  if (zap_ != nullptr) {
    identity.roles = 0;
    // zmq_msg_gets fails only for a frame that passed no ZAP handshake,
    // which a CURVE server socket does not let through.
    const char* user = zmq_msg_gets(body.handle(), "User-Id");
    if (const auto key = user != nullptr ? decode_z85_key(user) : std::nullopt) {
      identity.key = *key;
      if (const AllowedKey* allowed = zap_->allow_list()->find(identity.key)) {
        identity.name = allowed->name;
        identity.roles = allowed->roles;
      }
    }
  }
  return peers_.emplace(routing_id, std::move(identity)).first->second;
}

std::vector<std::string> PeerTrust::take_revoked() {
  std::vector<std::string> revoked;
  if (zap_ == nullptr || zap_->generation() == generation_) return revoked;
  generation_ = zap_->generation();
  const auto list = zap_->allow_list();
  for (auto& [routing_id, identity] : peers_) {
    const AllowedKey* allowed = list->find(identity.key);
    const Roles roles = allowed != nullptr ? allowed->roles : 0;
    if ((identity.roles & ~roles) == 0) continue;
    log_line("key '" + identity.name + "' lost its " + role_names(identity.roles & ~roles) +
             " role in the allow-list: refusing what it sends on its open connection");
    identity.roles &= roles;
    revoked.push_back(routing_id);
  }
  return revoked;
}

}  // namespace zpipe
