// Encodes and decodes a task frame with the installed codec, builds a kind
// registry with the installed worker library, and configures a job with the
// installed ventilator and sink libraries (linked, not run: that needs ports).
#include <iostream>
#include <string_view>

#include "zpipe/codec.hpp"
#include "zpipe/sink.hpp"
#include "zpipe/ventilator.hpp"
#include "zpipe/worker.hpp"

int main() {
  const zpipe::TaskBatch batch{1, "square", {{1, zpipe::Value{std::int64_t{3}}}}};
  const auto decoded = zpipe::decode(zpipe::encode(zpipe::Message{batch}));
  const auto kinds = zpipe::builtin_kinds();

  const char* const ventilator_args[] = {"ventilator", "--count", "3", "--bind", "tcp://127.0.0.1:*"};
  const zpipe::VentilatorConfig ventilator = zpipe::parse_ventilator_options(5, ventilator_args);
  zpipe::SinkConfig sink;
  sink.on_output = [](std::string_view lines) { std::cout << lines; };
  // Taken by address so that the linker must resolve both roles' entry points.
  int (*const run_ventilator)(const zpipe::VentilatorConfig&) = &zpipe::run_ventilator;
  int (*const run_sink)(const zpipe::SinkConfig&) = &zpipe::run_sink;

  const bool ok = std::get<zpipe::TaskBatch>(decoded) == batch && kinds.find("square") != nullptr &&
                  ventilator.count == 3u && ventilator.kind == "square" && sink.on_output && run_ventilator != nullptr &&
                  run_sink != nullptr;
  std::cout << (ok ? "round trip ok" : "round trip FAILED") << '\n';
  return ok ? 0 : 1;
}
