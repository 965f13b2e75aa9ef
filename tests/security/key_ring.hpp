// The keys of a secured job for the tests of tests/security/: the sink's,
// the ventilator's and a few workers', with allow-lists that admit the
// ventilator as the sink's ventilator and the named workers as workers.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "zpipe/curve.hpp"

namespace zpipe::testing {

namespace fs = std::filesystem;

// Keys for the sink, the ventilator and a few workers; the allow-lists
// admit the ventilator (as the sink's ventilator) and workers good and good2.
struct KeyRing {
  explicit KeyRing(const fs::path& where, std::initializer_list<const char*> workers = {"good", "good2"},
                   std::initializer_list<const char*> others = {"stranger"})
      : dir(where) {
    for (const char* name : {"sink", "ventilator"}) zpipe::write_curve_key_pair((dir / name).string(), zpipe::generate_curve_key_pair());
    for (const auto& names : {workers, others})
      for (const char* name : names) zpipe::write_curve_key_pair((dir / name).string(), zpipe::generate_curve_key_pair());
    fs::create_directories(dir / "workers");
    fs::create_directories(dir / "ventilators");
    for (const char* name : workers)
      fs::copy_file(dir / (std::string(name) + ".pub"), dir / "workers" / (std::string(name) + ".pub"));
    fs::copy_file(dir / "ventilator.pub", dir / "ventilators" / "ventilator.pub");
  }
  std::string key(const std::string& name) const { return (dir / (name + ".key")).string(); }
  std::string pub(const std::string& name) const { return (dir / (name + ".pub")).string(); }

  std::vector<std::string> sink() const {
    return {"--curve-secret", key("sink"), "--allow-workers", (dir / "workers").string(), "--allow-ventilators",
            (dir / "ventilators").string()};
  }
  std::vector<std::string> ventilator() const {
    return {"--curve-secret", key("ventilator"), "--allow-workers", (dir / "workers").string(), "--sink-key",
            pub("sink")};
  }
  std::vector<std::string> worker(const std::string& name, const std::string& ventilator_key = "ventilator",
                                  const std::string& sink_key = "sink") const {
    return {"--name", name, "--curve-secret", key(name), "--ventilator-key", pub(ventilator_key), "--sink-key", pub(sink_key)};
  }
  /// The key pair of `name`, as a client uses it.
  CurveKeyPair pair(const std::string& name) const { return read_secret_key_file(key(name), "test"); }
  std::string z85(const std::string& name) const { return read_public_key_file(pub(name), "test"); }
  fs::path dir;
};


inline std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace zpipe::testing
