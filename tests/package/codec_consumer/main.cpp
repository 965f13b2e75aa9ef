// Encodes and decodes a task frame with the installed codec alone, and
// prints the installed version.
#include <iostream>

#include "zpipe/codec.hpp"
#include "zpipe/version.hpp"

int main() {
  const zpipe::TaskBatch batch{1, "square", {{1, zpipe::Value{std::int64_t{3}}}}};
  const auto decoded = zpipe::decode(zpipe::encode(zpipe::Message{batch}));
  const bool ok = std::get<zpipe::TaskBatch>(decoded) == batch && !zpipe::version.empty();
  std::cout << (ok ? "codec round trip ok, zpipe " : "codec round trip FAILED, zpipe ") << zpipe::version << '\n';
  return ok ? 0 : 1;
}
