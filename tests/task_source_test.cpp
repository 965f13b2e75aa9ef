// Task sources: counts, lines of files, over-long lines, pipes that are slow,
// FIFOs, files that change under the reader, and job fingerprints.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>

#include "fingerprint.hpp"
#include "support/process.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/task_source.hpp"

using zpipe::SourceTask;
using zpipe::Value;

namespace {

// Reads until exhausted, waiting on input_fd() for at most 10 s in all.
std::vector<SourceTask> drain(zpipe::TaskSource& source) {
  std::vector<SourceTask> tasks;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    while (auto task = source.next()) tasks.push_back(std::move(*task));
    if (source.exhausted()) return tasks;
    if (std::chrono::steady_clock::now() >= until) FAIL("the source was not exhausted within 10 s");
    pollfd ready{source.input_fd(), POLLIN, 0};
    ::poll(&ready, 1, 100);
  }
}

zpipe::LineSourceOptions options(std::size_t max_line_bytes, std::string kind = "square") {
  return {.kind = std::move(kind), .max_line_bytes = max_line_bytes};
}

std::string fingerprint_of_input(const std::string& kind, const std::string& bytes) {
  auto hash = zpipe::input_job_hasher(kind);
  hash.add(bytes);
  return hash.text();
}

// A FIFO at `fifo` that a child process fills with the bytes of `file` and
// closes. The child is killed and reaped with the returned object, so a
// failing test leaves no writer blocked on the FIFO.
zpipe::testing::ChildProcess fifo_from(const zpipe::testing::ScratchDir& dir, const std::filesystem::path& file,
                                       const std::filesystem::path& fifo) {
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // The shell, not posix_spawn, opens the FIFO: an open that waits for the
  // reader inside posix_spawn would block this process too.
  return zpipe::testing::ChildProcess({"/bin/sh", "-c", "exec cat \"$0\" > \"$1\"", file.string(), fifo.string()},
                                      dir / "writer.out", dir / "writer.err");
}

// Makes a pipe this process's stdin for the scope, as `cmd | zpipe-ventilator --input -` would.
class PipeOnStdin {
 public:
  PipeOnStdin() {
    REQUIRE(::pipe(fds_) == 0);
    saved_ = ::dup(STDIN_FILENO);
    REQUIRE(::dup2(fds_[0], STDIN_FILENO) >= 0);
  }
  ~PipeOnStdin() {
    ::dup2(saved_, STDIN_FILENO);
    ::close(saved_);
    ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  PipeOnStdin(const PipeOnStdin&) = delete;
  PipeOnStdin& operator=(const PipeOnStdin&) = delete;
  void write(std::string_view bytes) { REQUIRE(::write(fds_[1], bytes.data(), bytes.size()) == ssize_t(bytes.size())); }
  void close_writer() {
    ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
  int saved_ = -1;
};

std::string seq(int last) {
  std::string text;
  for (int i = 1; i <= last; ++i) text += std::to_string(i) + "\n";
  return text;
}

}  // namespace

TEST_CASE("fingerprints match vectors computed independently") {
  // python3: h=0xcbf29ce484222325; for c in b: h=((h^c)*0x100000001b3)%2**64
  CHECK(zpipe::job_fingerprint("square", 3) == "fnv1a64:9f28e71a99b2fede:14");  // "square\0count:3"
  CHECK(fingerprint_of_input("upper", "a\nb\n") == "fnv1a64:f1e48aa3031c2b58:16");  // "upper\0input:a\nb\n"
  CHECK(fingerprint_of_input("square", seq(100)) == "fnv1a64:95162eb31533703b:305");
  auto split = zpipe::input_job_hasher("upper");
  split.add("a");
  split.add("\nb\n");
  CHECK(split.text() == "fnv1a64:f1e48aa3031c2b58:16");
  CHECK(zpipe::count_source("square", 3)->fingerprint() == "fnv1a64:9f28e71a99b2fede:14");
}

TEST_CASE("a count source yields 1..N and knows its total and fingerprint from the start") {
  auto source = zpipe::count_source("square", 3);
  CHECK(source->known_total() == 3);
  CHECK(source->fingerprint() == zpipe::job_fingerprint("square", 3));
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[0].payload == Value{std::int64_t{1}});
  CHECK(tasks[2].payload == Value{std::int64_t{3}});
}

TEST_CASE("a line source yields each line, with or without a final newline") {
  auto text = GENERATE(std::string("a\nbb\r\n\nlast"), std::string("a\nbb\r\n\nlast\n"));
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", text);
  auto source = zpipe::line_source((dir / "in").string(), options(100));
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 4);
  CHECK(tasks[0].payload == Value{std::string("a")});
  CHECK(tasks[1].payload == Value{std::string("bb")});
  CHECK(tasks[2].payload == Value{std::string("")});
  CHECK(tasks[3].payload == Value{std::string("last")});
}

TEST_CASE("a regular file's total and fingerprint are known before the first task, and agree with what it yields") {
  auto [text, tasks] = GENERATE(table<std::string, std::size_t>({
      {"", 0},
      {"a", 1},
      {"a\n", 1},
      {"\n", 1},
      {"\n\n\n", 3},
      {"a\nbb\r\n\nlast", 4},
      {"\r\n\r\n", 2},
      {"x\n" + std::string(11, 'y') + "\nz\n", 3},
      {"x\n" + std::string(11, 'y'), 2},
      {"x\n" + std::string(1000000, 'y') + "\nz", 3},
      {std::string(600000, 'y'), 1},
      {seq(100000), 100000},
  }));
  CAPTURE(text.size());
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", text);
  auto source = zpipe::line_source((dir / "in").string(), options(10));
  CHECK(source->known_total() == tasks);
  CHECK(source->fingerprint() == fingerprint_of_input("square", text));
  CHECK(drain(*source).size() == tasks);
  CHECK(source->known_total() == tasks);

  // The same bytes through a FIFO: known only at the end, and then the same.
  auto writer = fifo_from(dir, dir / "in", dir / "fifo");
  auto piped = zpipe::line_source((dir / "fifo").string(), options(10));
  CHECK_FALSE(piped->known_total());
  CHECK_FALSE(piped->fingerprint());
  CHECK(drain(*piped).size() == tasks);
  CHECK(piped->known_total() == tasks);
  CHECK(piped->fingerprint() == source->fingerprint());
  CHECK(writer.wait_for(std::chrono::seconds(10)) == 0);
}

TEST_CASE("a FIFO is read once: all its tasks, then the fingerprint of a regular file with the same bytes") {
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", seq(100));
  auto writer = fifo_from(dir, dir / "in", dir / "fifo");
  auto source = zpipe::line_source((dir / "fifo").string(), options(100));
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 100);
  CHECK(tasks[0].payload == Value{std::string("1")});
  CHECK(tasks[99].payload == Value{std::string("100")});
  CHECK(source->known_total() == 100);
  CHECK(source->fingerprint() == zpipe::line_source((dir / "in").string(), options(100))->fingerprint());
  CHECK(source->fingerprint() == "fnv1a64:95162eb31533703b:305");
  CHECK(writer.wait_for(std::chrono::seconds(10)) == 0);
}

TEST_CASE("a file that changes after it was counted makes the read fail rather than mix two inputs") {
  auto change = GENERATE(as<std::string>{}, "append", "truncate", "rewrite");
  CAPTURE(change);
  zpipe::testing::ScratchDir dir;
  const std::string text = seq(1000);
  zpipe::testing::write_file(dir / "in", text);
  auto source = zpipe::line_source((dir / "in").string(), options(100));
  REQUIRE(source->known_total() == 1000);
  if (change == "append") {
    std::ofstream(dir / "in", std::ios::app) << "1001\n";
  } else if (change == "truncate") {
    zpipe::testing::write_file(dir / "in", text.substr(0, 100));
  } else {
    std::string same_size = text;
    same_size[same_size.size() - 2] = '9';
    zpipe::testing::write_file(dir / "in", same_size);
  }
  REQUIRE_THROWS_WITH(drain(*source), Catch::Contains("changed while it was being read"));
}

TEST_CASE("an input that can only be fingerprinted at its end is refused when the fingerprint is needed first") {
  zpipe::LineSourceOptions resume = options(100);
  resume.fingerprint_before_dealing = true;
  SECTION("a pipe on stdin") {
    PipeOnStdin pipe;
    REQUIRE_THROWS_AS(zpipe::line_source("-", resume), zpipe::usage_error);
  }
  SECTION("a character device") {
    REQUIRE_THROWS_WITH(zpipe::line_source("/dev/null", resume),
                        Catch::Contains("--resume needs --count or a regular --input file"));
  }
  SECTION("a regular file is fine") {
    zpipe::testing::ScratchDir dir;
    zpipe::testing::write_file(dir / "in", "a\n");
    CHECK(zpipe::line_source((dir / "in").string(), resume)->fingerprint());
  }
}

TEST_CASE("stdin redirected from a file is counted from where it stands") {
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", "skipped\na\nb\n");
  const int file = ::open((dir / "in").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(file >= 0);
  REQUIRE(::lseek(file, 8, SEEK_SET) == 8);
  const int saved = ::dup(STDIN_FILENO);
  REQUIRE(::dup2(file, STDIN_FILENO) >= 0);
  auto source = zpipe::line_source("-", options(100, "upper"));
  CHECK(source->known_total() == 2);
  CHECK(source->fingerprint() == "fnv1a64:f1e48aa3031c2b58:16");
  const auto tasks = drain(*source);
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  ::close(file);
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[0].payload == Value{std::string("a")});
}

TEST_CASE("a line longer than the limit becomes one failed task, and its neighbours are intact") {
  auto [length, at_end] = GENERATE(table<std::size_t, bool>({{11, false}, {1000000, false}, {11, true}, {300000, true}}));
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", "x\n" + std::string(length, 'y') + (at_end ? "" : "\nz\n"));
  auto source = zpipe::line_source((dir / "in").string(), options(10));
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == (at_end ? 2u : 3u));
  CHECK(tasks[0].payload == Value{std::string("x")});
  CHECK_THAT(tasks[1].error, Catch::Contains("line 2") && Catch::Contains("longer than 10 bytes"));
  if (!at_end) CHECK(tasks[2].payload == Value{std::string("z")});
}

TEST_CASE("a line of exactly the limit is a task") {
  zpipe::testing::ScratchDir dir;
  zpipe::testing::write_file(dir / "in", std::string(10, 'y') + "\n");
  auto source = zpipe::line_source((dir / "in").string(), options(10));
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].error.empty());
}

TEST_CASE("a pipe with nothing to read yet does not block, and is fingerprinted once read to its end") {
  PipeOnStdin pipe;
  auto source = zpipe::line_source("-", options(100, "upper"));
  CHECK_FALSE(source->next().has_value());
  CHECK_FALSE(source->exhausted());
  CHECK_FALSE(source->fingerprint());
  pipe.write("a\n");
  pipe.write("b\n");
  pipe.close_writer();
  const auto tasks = drain(*source);
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[0].payload == Value{std::string("a")});
  CHECK(source->known_total() == 2);
  CHECK(source->fingerprint() == "fnv1a64:f1e48aa3031c2b58:16");
}
