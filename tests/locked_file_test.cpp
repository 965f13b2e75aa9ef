// Files one process at a time may write: another process's lock is refused
// with its pid and the file left as it was; a second open in this process is
// refused without dropping the first one's lock.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "support/forked_holder.hpp"
#include "support/process.hpp"
#include "zpipe/locked_file.hpp"

using zpipe::LockedFile;
using zpipe::testing::ForkedHolder;

TEST_CASE("a locked file is created when missing and never truncated on open") {
  zpipe::testing::ScratchDir dir;
  const auto path = (dir / "out.jsonl").string();
  {
    auto file = LockedFile::open(path, "--output");
    CHECK(file.created());
    CHECK(file.regular());
    REQUIRE(::write(file.fd(), "hello", 5) == 5);
  }
  auto file = LockedFile::open(path, "--output");
  CHECK_FALSE(file.created());
  CHECK(zpipe::testing::read_file(path) == "hello");
  file.truncate();
  CHECK(std::filesystem::file_size(path) == 0);
  REQUIRE(::write(file.fd(), "x", 1) == 1);
  CHECK(zpipe::testing::read_file(path) == "x");
}

TEST_CASE("a file locked by another process is refused with its pid, and left untouched") {
  zpipe::testing::ScratchDir dir;
  const auto path = (dir / "out.jsonl").string();
  std::ofstream(path) << "results of the other sink\n";
  ForkedHolder holder([&](auto wait) {
    const auto file = LockedFile::open(path, "--output");
    wait();
  });
  try {
    (void)LockedFile::open(path, "--output");
    FAIL("a file another process holds was opened");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    CHECK(message == "--output " + path + " is in use by process " + std::to_string(holder.pid()) +
                         " (another zpipe-sink?); stop it or choose another file");
  }
  CHECK(zpipe::testing::read_file(path) == "results of the other sink\n");
  CHECK(holder.release() == 0);
  const auto file = LockedFile::open(path, "--output");
  CHECK_FALSE(file.created());
}

TEST_CASE("a second open in this process is refused and the first keeps its lock") {
  zpipe::testing::ScratchDir dir;
  const auto path = (dir / "same").string();
  auto journal = LockedFile::open(path, "--journal", 0600);
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK_THROWS_WITH(LockedFile::open(path, "--output"),
                    "--output " + path + " is already open in this process as --journal; give each its own file");
  // Closing a second descriptor would have dropped the lock: another process
  // must still be refused.
  const int status = zpipe::testing::in_child([&] {
    try {
      (void)LockedFile::open(path, "--output");
      return 1;
    } catch (const std::runtime_error&) {
      return 0;
    }
  });
  CHECK(status == 0);
  LockedFile moved = std::move(journal);
  CHECK(moved.fd() >= 0);
}

TEST_CASE("a file that cannot be opened says so") {
  CHECK_THROWS_WITH(LockedFile::open("/nonexistent-dir/out", "--output"),
                    Catch::Contains("cannot open --output /nonexistent-dir/out") &&
                        Catch::Contains("check the path"));
}

TEST_CASE("a device is opened without a lock, so two writers may share /dev/null") {
  const auto first = LockedFile::open("/dev/null", "--output");
  const auto second = LockedFile::open("/dev/null", "--output");
  CHECK_FALSE(first.regular());
  CHECK(second.fd() >= 0);
}
