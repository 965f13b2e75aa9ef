// libFuzzer target: a sink journal of any content either replays or is
// refused with std::runtime_error; torn tails are cut off, never misread.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "journal.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  char path[] = "/tmp/zpipe-journal-fuzz-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return 0;
  const bool written = ::write(fd, data, size) == static_cast<ssize_t>(size);
  ::close(fd);
  if (written) {
    try {
      zpipe::Journal journal(path, [](const zpipe::Message&) {});
    } catch (const std::runtime_error&) {
    }
  }
  ::unlink(path);
  return 0;
}
