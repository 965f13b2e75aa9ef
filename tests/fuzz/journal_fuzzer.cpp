// libFuzzer target: a sink journal of any content either replays or is
// refused with std::runtime_error; torn tails are cut off, never misread, and
// no descriptor is left open either way. A journal that replays takes two
// more records, each written and synced after whatever partial block the
// journal then ends in (direct writes rewrite that block), and replays them
// whole, after every record it had, when opened again.
#include <poll.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <variant>

#include "journal.hpp"
#include "zpipe/codec.hpp"

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
    std::uint64_t records = 0;
    const zpipe::JobEnd appended{7, true};
    try {
      zpipe::Journal journal(path);
      records = journal.replay([](const zpipe::Message&) {});
      if (records > 0) {
        // The first sync is awaited (5 s at most), so the second write
        // carries over the block the first one ended in.
        const auto first = journal.append(appended);
        journal.request_sync();
        for (int waits = 0; journal.synced() < first && waits < 50; ++waits) {
          pollfd wake{journal.wake_fd(), POLLIN, 0};
          if (::poll(&wake, 1, 100) == 1) journal.drain_wake();
          journal.check();
        }
        if (journal.synced() < first) std::abort();
        journal.append(appended);
      }
    } catch (const std::runtime_error&) {
      records = 0;
    }
    if (records > 0) {
      std::uint64_t seen = 0;
      bool last_is_appended = false;
      zpipe::Journal journal(path);
      const auto replayed = journal.replay([&](const zpipe::Message& message) {
        ++seen;
        const auto* end = std::get_if<zpipe::JobEnd>(&message);
        last_is_appended = end != nullptr && *end == appended;
      });
      if (replayed != records + 2 || seen != records + 2 || !last_is_appended) std::abort();
    }
  }
  ::unlink(path);
  const int lowest_free_after = ::dup(STDIN_FILENO);
  ::close(lowest_free_after);
  if (lowest_free_after != lowest_free) std::abort();
  return 0;
}
