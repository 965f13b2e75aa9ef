// A peer as the protocol cores see it: the key it proved and the name that
// key has in the allow-list, never a name the peer chose.
#pragma once

#include <string>

#include "zpipe/allow_list.hpp"

namespace zpipe {

struct PeerIdentity {
  std::string key;   // its 32-byte CURVE public key; empty in plaintext
  std::string name;  // its key file's name; empty in plaintext
  Roles roles = static_cast<Roles>(Role::ventilator) | static_cast<Roles>(Role::worker) | static_cast<Roles>(Role::observer);
  std::string address;  // where its connection comes from (libzmq's Peer-Address); empty when unknown

  [[nodiscard]] bool authenticated() const { return !key.empty(); }
  [[nodiscard]] bool may(Role role) const { return has_role(roles, role); }
};

}  // namespace zpipe
