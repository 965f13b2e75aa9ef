// Encodes and decodes a task frame with the installed codec, and builds a
// kind registry with the installed worker library.
#include <iostream>

#include "zpipe/codec.hpp"
#include "zpipe/worker.hpp"

int main() {
  const zpipe::TaskBatch batch{1, "square", {{1, zpipe::Value{std::int64_t{3}}}}};
  const auto decoded = zpipe::decode(zpipe::encode(zpipe::Message{batch}));
  const auto kinds = zpipe::builtin_kinds();
  const bool ok = std::get<zpipe::TaskBatch>(decoded) == batch && kinds.find("square") != nullptr;
  std::cout << (ok ? "round trip ok" : "round trip FAILED") << '\n';
  return ok ? 0 : 1;
}
