// Reading the allow-lists: names and roles from the files, and what is
// skipped without blocking: FIFOs, devices, huge files, bad keys, and a
// directory that is gone (which admits nobody).
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "support/process.hpp"
#include "zpipe/allow_list.hpp"
#include "zpipe/curve.hpp"

namespace fs = std::filesystem;
using zpipe::AllowList;
using zpipe::Role;

namespace {

std::string write_key(const fs::path& path) {
  const auto keys = zpipe::generate_curve_key_pair();
  std::ofstream(path) << keys.public_key << "\n";
  return *zpipe::decode_z85_key(keys.public_key);
}

}  // namespace

TEST_CASE("allow-list: each key gets its file's name and the roles of the directories that hold it") {
  zpipe::testing::ScratchDir dir;
  fs::create_directories(dir.path() / "workers");
  fs::create_directories(dir.path() / "ventilators");
  const std::string alice = write_key(dir.path() / "workers" / "alice.pub");
  const std::string odd = write_key(dir.path() / "workers" / "we ird\x1b[31m.pub");
  const std::string both = write_key(dir.path() / "ventilators" / "hub.pub");
  fs::copy_file(dir.path() / "ventilators" / "hub.pub", dir.path() / "workers" / "hub-too.pub");
  const auto list = AllowList::read({{(dir.path() / "workers").string(), Role::worker, "allow-workers"},
                                     {(dir.path() / "ventilators").string(), Role::ventilator, "allow-ventilators"}});
  REQUIRE(list.problems().empty());
  REQUIRE(list.find(alice) != nullptr);
  CHECK(list.find(alice)->name == "alice");
  CHECK(list.find(alice)->roles == static_cast<zpipe::Roles>(Role::worker));
  CHECK(list.find(odd)->name == "we_ird__31m");  // nothing a terminal would act on
  CHECK(zpipe::has_role(list.find(both)->roles, Role::worker));
  CHECK(zpipe::has_role(list.find(both)->roles, Role::ventilator));
  CHECK(list.find(std::string(32, 'x')) == nullptr);
}

TEST_CASE("allow-list: a FIFO a device a huge file and a bad key are skipped at once and said why") {
  zpipe::testing::ScratchDir dir;
  const std::string good = write_key(dir.path() / "good.pub");
  REQUIRE(::mkfifo((dir.path() / "fifo.pub").c_str(), 0644) == 0);
  fs::create_symlink("/dev/zero", dir.path() / "zero.pub");
  std::ofstream(dir.path() / "huge.pub") << std::string(100000, 'a');
  std::ofstream(dir.path() / "bad.pub") << "not a key\n";
  // Opening the FIFO for reading would block until a writer came: this
  // returns only because the reader never waits on it.
  const auto list = AllowList::read({{dir.path().string(), Role::worker, "allow-workers"}});
  CHECK(list.size() == 1);
  CHECK(list.find(good) != nullptr);
  std::string problems;
  for (const auto& problem : list.problems()) problems += problem + "\n";
  CHECK_THAT(problems, Catch::Contains("fifo.pub: not a regular file"));
  CHECK_THAT(problems, Catch::Contains("zero.pub: not a regular file"));
  CHECK_THAT(problems, Catch::Contains("huge.pub: larger than 1024 bytes"));
  CHECK_THAT(problems, Catch::Contains("bad.pub: does not hold a CURVE public key"));
}

TEST_CASE("allow-list: a directory that is gone admits nobody and says so") {
  zpipe::testing::ScratchDir dir;
  write_key(dir.path() / "good.pub");
  const auto list = AllowList::read({{(dir.path() / "gone").string(), Role::worker, "allow-workers"}});
  CHECK(list.size() == 0);
  REQUIRE(list.missing_sources().size() == 1);
  CHECK_THAT(list.missing_sources()[0], Catch::Contains("admitting no worker key"));
}
