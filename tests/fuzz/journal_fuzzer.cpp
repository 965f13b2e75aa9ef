// libFuzzer target: a sink journal of any content either replays or is
// refused with std::runtime_error; torn tails are cut off, never misread, and
// no descriptor is left open either way.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "journal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  char path[] = "/tmp/zpipe-journal-fuzz-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return 0;
  const bool written = ::write(fd, data, size) == static_cast<ssize_t>(size);
  ::close(fd);
  // The lowest free descriptor, before and after: the journal's file takes
  // it, so it differs afterwards when the journal leaked its descriptor.
  const int lowest_free = ::dup(STDIN_FILENO);
  ::close(lowest_free);
  if (written) {
    try {
      zpipe::Journal journal(path);
      journal.replay([](const zpipe::Message&) {});
    } catch (const std::runtime_error&) {
    }
  }
  ::unlink(path);
  const int lowest_free_after = ::dup(STDIN_FILENO);
  ::close(lowest_free_after);
  if (lowest_free_after != lowest_free) std::abort();
  return 0;
}
