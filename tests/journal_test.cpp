// The sink's journal: what was appended is replayed, a torn tail is cut off,
// and a file that is not a journal is refused without leaking its descriptor.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <variant>
#include <vector>

#include "journal.hpp"
#include "support/process.hpp"

using zpipe::JobManifest;
using zpipe::Journal;
using zpipe::Message;
using zpipe::ResultBatch;

namespace {

std::vector<Message> replay(const std::filesystem::path& path) {
  std::vector<Message> seen;
  Journal journal(path.string(), [&](const Message& message) { seen.push_back(message); });
  return seen;
}

std::size_t open_descriptors() {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                std::filesystem::directory_iterator{}));
}

const JobManifest manifest{7, "square", 3, "fp", false, 0};
const ResultBatch results{7, "w1", {{1, true, std::int64_t{1}}, {2, false, std::string("boom")}}};

}  // namespace

TEST_CASE("a journal replays what was appended, in order") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  {
    Journal journal(path.string(), [](const Message&) { FAIL("a new journal has nothing to replay"); });
    journal.append(manifest);
    journal.append(results);
  }
  const auto seen = replay(path);
  REQUIRE(seen.size() == 2);
  CHECK(std::get<JobManifest>(seen[0]) == manifest);
  CHECK(std::get<ResultBatch>(seen[1]) == results);
}

TEST_CASE("a torn last record is cut off and the journal goes on from there") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  {
    Journal journal(path.string(), [](const Message&) {});
    journal.append(manifest);
  }
  const auto whole = std::filesystem::file_size(path);
  std::ofstream(path, std::ios::app | std::ios::binary) << std::string("\x20\x00\x00\x00\x93", 5);
  CHECK(replay(path).size() == 1);
  CHECK(std::filesystem::file_size(path) == whole);
  {
    Journal journal(path.string(), [](const Message&) {});
    journal.append(results);
  }
  CHECK(replay(path).size() == 2);
}

TEST_CASE("a file that is not a journal is refused, and its descriptor closed") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "not-a-journal";
  std::ofstream(path, std::ios::binary) << std::string("\x03\x00\x00\x00\x93\x01\x63", 7);
  const auto before = open_descriptors();
  for (int i = 0; i < 10; ++i) CHECK_THROWS_AS(replay(path), std::runtime_error);
  CHECK(open_descriptors() == before);
}
