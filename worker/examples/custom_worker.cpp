// An example of a worker with a kind of its own: "reverse" turns each line
// of text around. Built as zpipe-example-worker; tests/e2e_test.cpp runs it.
#include <string>

#include "zpipe/worker.hpp"

int main(int argc, char** argv) {
  zpipe::KindRegistry kinds = zpipe::builtin_kinds();
  kinds.add("reverse", [](const zpipe::Value& payload) -> zpipe::Value {
    const std::string text = zpipe::as_text(payload);
    return std::string(text.rbegin(), text.rend());
  });
  return zpipe::worker_main(argc, argv, kinds, "example-worker");
}
