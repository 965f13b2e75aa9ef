// The sink's journal: what was appended is replayed, a torn or zero-filled
// tail is cut off, a damaged file is refused without leaking its descriptor,
// syncs are reported through synced() and the wake descriptor, another
// process's journal is refused, replay reads in bounded chunks, and direct
// writes keep every record whole across syncs, reopening and crashes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <variant>
#include <vector>

#include "aligned_buffer.hpp"
#include "journal.hpp"
#include "support/forked_holder.hpp"
#include "support/process.hpp"
#include "zpipe/codec.hpp"

using zpipe::JobManifest;
using zpipe::Journal;
using zpipe::Message;
using zpipe::ResultBatch;

namespace {

std::vector<Message> replay(const std::filesystem::path& path) {
  std::vector<Message> seen;
  Journal journal(path.string());
  const auto records = journal.replay([&](const Message& message) { seen.push_back(message); });
  CHECK(records == seen.size());
  return seen;
}

std::size_t open_descriptors() {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                                std::filesystem::directory_iterator{}));
}

void append_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::app | std::ios::binary) << bytes;
}

std::string record(const std::string& frame) {
  const auto length = static_cast<std::uint32_t>(frame.size());
  std::string bytes;
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>(length >> (8 * i) & 0xff));
  return bytes + frame;
}

// Waits, 5 s at most, until the journal reports `sequence` synced.
bool wait_synced(Journal& journal, std::uint64_t sequence) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (journal.synced() < sequence) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd wake{journal.wake_fd(), POLLIN, 0};
    if (::poll(&wake, 1, static_cast<int>(left.count())) == 1) journal.drain_wake();
    journal.check();
  }
  return true;
}

// Whether the file system under `dir` takes O_DIRECT writes of a block.
bool takes_direct_writes(const std::filesystem::path& dir) {
  const auto probe = dir / "direct-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  void* block = std::aligned_alloc(Journal::block_bytes, Journal::block_bytes);
  std::memset(block, 0, Journal::block_bytes);
  const bool written = ::pwrite(fd, block, Journal::block_bytes, 0) == static_cast<ssize_t>(Journal::block_bytes);
  std::free(block);
  ::close(fd);
  std::filesystem::remove(probe);
  return written;
}

const JobManifest manifest{7, "square", 3, "fp", false, 0};
const ResultBatch results{7, "w1", {{1, true, std::int64_t{1}}, {2, false, std::string("boom")}}};

}  // namespace

TEST_CASE("a journal replays what was appended, in order, across reopening") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  {
    Journal journal(path.string());
    CHECK(journal.replay([](const Message&) { FAIL("a new journal has nothing to replay"); }) == 0);
    CHECK(journal.append(manifest) == 1);
    CHECK(journal.append(zpipe::encode(results)) == 2);
    CHECK(journal.appended() == 2);
    CHECK_THROWS_AS(journal.replay([](const Message&) {}), std::logic_error);
  }
  const auto seen = replay(path);
  REQUIRE(seen.size() == 2);
  CHECK(std::get<JobManifest>(seen[0]) == manifest);
  CHECK(std::get<ResultBatch>(seen[1]) == results);
  CHECK((std::filesystem::status(path).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
}

TEST_CASE("a torn last record is cut off and later appends land after the last whole one") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  {
    Journal journal(path.string());
    journal.append(manifest);
  }
  const auto whole = std::filesystem::file_size(path);
  append_bytes(path, std::string("\x20\x00\x00\x00\x93", 5));
  {
    Journal journal(path.string());
    CHECK(journal.replay([](const Message&) {}) == 1);
    CHECK(std::filesystem::file_size(path) == whole);
    journal.append(results);
  }
  const auto seen = replay(path);
  REQUIRE(seen.size() == 2);
  CHECK(std::get<ResultBatch>(seen[1]) == results);
  CHECK(std::filesystem::file_size(path) == whole + record(zpipe::encode(results)).size());
}

TEST_CASE("zero bytes a crash left at the end are cut off") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  {
    Journal journal(path.string());
    journal.append(manifest);
  }
  const auto whole = std::filesystem::file_size(path);
  // Zeros from a record boundary; or a whole record whose end is zeros.
  std::string frame = zpipe::encode(results);
  std::fill(frame.begin() + 3, frame.end(), '\0');
  const auto tail = GENERATE_COPY(std::string(4096, '\0'), std::string(3, '\0'), record(frame) + std::string(100, '\0'));
  append_bytes(path, tail);
  CHECK(replay(path).size() == 1);
  CHECK(std::filesystem::file_size(path) == whole);
}

TEST_CASE("a damaged journal is refused, saying where, and its descriptors closed") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  const std::string first = record(zpipe::encode(manifest));
  const auto [content, at, reason] = GENERATE_COPY(table<std::string, std::size_t, std::string>({
      {first + record("\x93\x01\x63") + record(zpipe::encode(results)), first.size(), ""},
      {record(zpipe::encode(results)), 0, "not a job manifest"},
      {first + std::string(8, '\0') + record(zpipe::encode(results)), first.size(), "length 0"},
      {first + record(std::string(17 * 1024 * 1024, 'x')), first.size(), "more than a frame may hold"},
  }));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  const auto before = open_descriptors();
  for (int i = 0; i < 3; ++i) {
    CHECK_THROWS_WITH(replay(path), Catch::Contains("is damaged at byte " + std::to_string(at)) &&
                                        Catch::Contains(reason) && Catch::Contains("move it away"));
  }
  CHECK(open_descriptors() == before);
  CHECK(std::filesystem::file_size(path) == content.size());  // a damaged journal is not "repaired"
}

TEST_CASE("a requested sync makes everything appended durable and wakes the caller") {
  zpipe::testing::ScratchDir dir;
  Journal journal((dir / "journal").string());
  journal.replay([](const Message&) {});
  CHECK(journal.synced() == 0);
  journal.append(manifest);
  journal.append(results);
  const auto last = journal.append(results);
  journal.request_sync();
  journal.request_sync();  // coalesces with the first
  REQUIRE(wait_synced(journal, last));
  CHECK(journal.synced() == 3);
  journal.drain_wake();
  pollfd wake{journal.wake_fd(), POLLIN, 0};
  CHECK(::poll(&wake, 1, 0) == 0);  // drained, and nothing new synced
  journal.check();
}

TEST_CASE("a journal in use by another process is refused with its pid") {
  zpipe::testing::ScratchDir dir;
  const auto path = (dir / "journal").string();
  zpipe::testing::ForkedHolder holder([&](auto wait) {
    Journal journal(path);
    journal.replay([](const Message&) {});
    journal.append(manifest);
    wait();
  });
  CHECK_THROWS_WITH(Journal(path), "--journal " + path + " is in use by process " + std::to_string(holder.pid()) +
                                       " (another zpipe-sink?); stop it or choose another file");
  CHECK(holder.release() == 0);
  CHECK(replay(path).size() == 1);
}

TEST_CASE("a write failure is reported by check() and nothing is written after it") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  // In a child: a file size limit makes the second write fail part way.
  const int status = zpipe::testing::in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{1000, 1000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    Journal journal(path.string());
    journal.append(manifest);
    journal.request_sync();
    if (!wait_synced(journal, 1)) return 2;
    // A direct write of a whole block would pass the limit, and is refused:
    // the journal goes on through the page cache.
    if (journal.direct()) return 5;
    journal.append(std::string(2000, 'x'));
    journal.request_sync();
    try {
      wait_synced(journal, 2);
      return 3;
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find("cannot write --journal " + path.string()) != 0) return 4;
    }
    journal.append(manifest);
    journal.request_sync();
    return 0;
  });
  CHECK(status == 0);
  CHECK(std::filesystem::file_size(path) == 1000);  // the part that fitted, once
}

TEST_CASE("replay reads a large journal in bounded chunks") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  const ResultBatch large{7, "w1", {{1, true, std::string(100 * 1000, 'r')}}};
  const std::string frame = zpipe::encode(large);
  constexpr int records = 500;  // 50 MB
  {
    Journal journal(path.string());
    journal.append(manifest);
    for (int i = 0; i < records; ++i) journal.append(frame);
  }
  REQUIRE(std::filesystem::file_size(path) > 50 * 1000 * 1000);
  Journal journal(path.string());
  std::uint64_t results_seen = 0;
  CHECK(journal.replay([&](const Message& message) { results_seen += std::holds_alternative<ResultBatch>(message); }) ==
        records + 1);
  CHECK(results_seen == records);
  CHECK(journal.replay_buffer_peak() <= 2 * Journal::replay_chunk_bytes);
}

TEST_CASE("direct writes: a closed journal ends at its last record; a crashed one's zeros are cut off") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  const std::uint64_t records_bytes = record(zpipe::encode(manifest)).size() + record(zpipe::encode(results)).size();
  {
    Journal journal(path.string());
    journal.replay([](const Message&) {});
    const bool direct = takes_direct_writes(dir.path());
    if (!direct) WARN("the file system under " << dir.path() << " refuses O_DIRECT: these journals went through the page cache");
    CHECK(journal.direct() == direct);
    journal.append(manifest);
    const auto last = journal.append(results);
    journal.request_sync();
    REQUIRE(wait_synced(journal, last));
    if (journal.direct()) CHECK(std::filesystem::file_size(path) == Journal::block_bytes);  // zeros to the block's end
    // What a crash now would leave: the synced records, then zeros.
    std::filesystem::copy_file(path, dir / "crashed");
  }
  CHECK(std::filesystem::file_size(path) == records_bytes);
  const auto seen = replay(dir / "crashed");
  REQUIRE(seen.size() == 2);
  CHECK(std::get<ResultBatch>(seen[1]) == results);
  CHECK(std::filesystem::file_size(dir / "crashed") == records_bytes);
}

TEST_CASE("direct writes: records of any length, synced at any point and reopened, are replayed whole") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  std::mt19937 random(12);
  std::vector<Message> expected{manifest};
  std::size_t records_at_crash = 0;
  const auto some_results = [&] {
    ResultBatch batch{7, "w1", {}};
    const auto count = std::uniform_int_distribution<int>(1, 400)(random);
    for (int i = 0; i < count; ++i)
      batch.results.push_back({expected.size() * 1000 + static_cast<std::uint64_t>(i), true,
                               std::string(std::uniform_int_distribution<std::size_t>(0, 40)(random), static_cast<char>('a' + i % 26))});
    return batch;
  };
  for (int opening = 0; opening < 4; ++opening) {
    Journal journal(path.string());
    CHECK(journal.replay([](const Message&) {}) == (opening == 0 ? 0 : expected.size()));
    if (opening == 0) journal.append(manifest);
    for (int sync = 0; sync < 12; ++sync) {
      std::uint64_t last = 0;
      for (int i = std::uniform_int_distribution<int>(1, 5)(random); i > 0; --i) {
        expected.push_back(some_results());
        last = journal.append(expected.back());
      }
      journal.request_sync();
      REQUIRE(wait_synced(journal, last));
    }
    if (opening == 2) {
      std::filesystem::copy_file(path, dir / "crashed", std::filesystem::copy_options::overwrite_existing);
      records_at_crash = expected.size();
    }
  }
  // The last opening's records, then a restart from the copy taken before it.
  CHECK(replay(path) == expected);
  const auto crashed = replay(dir / "crashed");
  CHECK(crashed == std::vector<Message>(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(records_at_crash)));
}

TEST_CASE("direct writes: a journal that falls back to the page cache mid-run still ends at its last record") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  if (!takes_direct_writes(dir.path())) return;
  const std::uint64_t records_bytes = record(zpipe::encode(manifest)).size() + record(zpipe::encode(results)).size();
  const int status = zpipe::testing::in_child([&] {
    ::signal(SIGXFSZ, SIG_IGN);
    Journal journal(path.string());
    journal.replay([](const Message&) {});
    journal.append(manifest);
    journal.request_sync();
    if (!wait_synced(journal, 1)) return 2;
    if (!journal.direct()) return 3;
    // The next direct write (4096 bytes from 0) is cut to 3000 by the limit: EINVAL.
    const rlimit limit{3000, 3000};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    journal.append(results);
    journal.request_sync();
    if (!wait_synced(journal, 2)) return 4;
    if (journal.direct()) return 5;
    return 0;
  });
  REQUIRE(status == 0);
  CHECK(std::filesystem::file_size(path) == records_bytes);
  const auto seen = replay(path);
  REQUIRE(seen.size() == 2);
  CHECK(std::get<ResultBatch>(seen[1]) == results);
}

TEST_CASE("direct writes: appends racing the writer, syncs asked at random and never waited for, replay whole") {
  zpipe::testing::ScratchDir dir;
  const auto path = dir / "journal";
  std::mt19937 random(99);
  std::vector<Message> expected{manifest};
  for (int opening = 0; opening < 6; ++opening) {
    Journal journal(path.string());
    REQUIRE(journal.replay([](const Message&) {}) == (opening == 0 ? 0 : expected.size()));
    if (opening == 0) journal.append(manifest);
    for (int i = 0; i < 3000; ++i) {
      ResultBatch batch{7, "w1", {}};
      const auto count = std::uniform_int_distribution<int>(1, 30)(random);
      for (int r = 0; r < count; ++r)
        batch.results.push_back({expected.size() * 100 + static_cast<std::uint64_t>(r), true,
                                 std::string(std::uniform_int_distribution<std::size_t>(0, 300)(random), 'q')});
      expected.push_back(batch);
      journal.append(expected.back());
      if (std::uniform_int_distribution<int>(0, 3)(random) == 0) journal.request_sync();
      journal.check();
    }
  }
  CHECK(replay(path) == expected);
}

TEST_CASE("an aligned buffer holds block-aligned bytes, and padding it to a block allocates nothing") {
  zpipe::AlignedBuffer buffer;
  const std::string bytes(5000, 'b');
  buffer.append(bytes.data(), 10);
  buffer.append(bytes.data(), bytes.size());
  REQUIRE(buffer.size() == 5010);
  CHECK(reinterpret_cast<std::uintptr_t>(buffer.data()) % zpipe::AlignedBuffer::block_bytes == 0);
  CHECK(buffer.capacity() % zpipe::AlignedBuffer::block_bytes == 0);
  CHECK(std::string(buffer.data(), 5010) == std::string(5010, 'b'));
  const char* before = buffer.data();
  CHECK(buffer.pad_to_block() == 2 * zpipe::AlignedBuffer::block_bytes);
  CHECK(buffer.data() == before);
  CHECK(std::all_of(buffer.data() + 5010, buffer.data() + buffer.size(), [](char c) { return c == '\0'; }));
  zpipe::AlignedBuffer other;
  other.swap(buffer);
  CHECK(buffer.size() == 0);
  CHECK(other.size() == 2 * zpipe::AlignedBuffer::block_bytes);
  other.clear();
  CHECK(other.size() == 0);
  CHECK(other.capacity() >= 2 * zpipe::AlignedBuffer::block_bytes);
}
