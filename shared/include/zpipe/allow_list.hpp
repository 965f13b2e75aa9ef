// Who may connect, and as what. An allow-list is a directory of KEY.pub
// files, each a client's CURVE public key; the file's name (without .pub) is
// the name zpipe gives that client in every log line, output record and
// summary. Each directory admits its keys for one role, and the role decides
// which messages a key may send (PROTOCOL.md §9).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace zpipe {

/// A role a key is admitted for; a key in several directories has several.
/// An observer may only ask the ventilator how the job stands (zpipe-status).
enum class Role : std::uint8_t { ventilator = 1, worker = 2, observer = 4 };
using Roles = std::uint8_t;
[[nodiscard]] constexpr bool has_role(Roles roles, Role role) { return (roles & static_cast<Roles>(role)) != 0; }
/// The roles in words: "worker", "ventilator and worker", "observer", ..., or "no role".
[[nodiscard]] std::string role_names(Roles roles);

/// One directory and the role its keys are admitted for; or, for a program
/// that embeds two roles, one key given directly (`key`, with `dir` empty).
struct AllowListSource {
  std::string dir;
  Role role = Role::worker;
  std::string option;  // the command-line option that named it, for messages
  std::string key = {};    // a 32-byte public key admitted without a file
  std::string name = {};   // that key's name
};

/// An admitted key: the name of its file, and its roles.
struct AllowedKey {
  std::string name;
  Roles roles = 0;
  bool operator==(const AllowedKey&) const = default;
};

/// One reading of every source. Reading never blocks and never fails: what
/// cannot be read admits nobody (it fails closed), and each thing skipped is
/// described in problems().
class AllowList {
 public:
  /// Key files are read only if they are regular files of at most this many
  /// bytes, opened without blocking: a FIFO, a device or a huge file in the
  /// directory is skipped, and never waited on.
  static constexpr std::size_t max_key_file_bytes = 1024;
  /// Names are cut to this many bytes, and anything but [A-Za-z0-9._-]
  /// becomes '_': they go into logs and output unescaped.
  static constexpr std::size_t max_name_bytes = 64;

  AllowList() = default;
  [[nodiscard]] static AllowList read(const std::vector<AllowListSource>& sources);

  /// The key's entry, or nullptr when it is not admitted. `key` is the
  /// 32-byte binary public key.
  [[nodiscard]] const AllowedKey* find(std::string_view key) const;
  [[nodiscard]] std::size_t size() const { return keys_.size(); }
  /// How many keys each role admits, as "2 worker key(s), 1 ventilator key(s)".
  [[nodiscard]] std::string describe() const;
  /// What was skipped, one line each; empty when everything was read.
  [[nodiscard]] const std::vector<std::string>& problems() const { return problems_; }
  /// One line for each source that could not be read at all.
  [[nodiscard]] const std::vector<std::string>& missing_sources() const { return missing_sources_; }

  bool operator==(const AllowList& other) const { return keys_ == other.keys_; }

 private:
  std::map<std::string, AllowedKey, std::less<>> keys_;
  std::vector<std::string> problems_;
  std::vector<std::string> missing_sources_;
};

}  // namespace zpipe
