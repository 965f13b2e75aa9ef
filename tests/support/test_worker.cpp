// A worker for tests: the built-in kinds plus "poison", which kills its own
// process on payload 7 (a task that takes down every worker that runs it)
// and otherwise returns its payload after a few milliseconds.
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "zpipe/worker.hpp"

int main(int argc, char** argv) {
  const rlimit no_core_files{0, 0};  // the poison aborts on purpose
  setrlimit(RLIMIT_CORE, &no_core_files);
  zpipe::KindRegistry kinds = zpipe::builtin_kinds();
  kinds.add("poison", [](const zpipe::Value& payload) -> zpipe::Value {
    if (zpipe::as_integer(payload) == 7) std::abort();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return payload;
  });
  return zpipe::worker_main(argc, argv, kinds, "test-worker");
}
