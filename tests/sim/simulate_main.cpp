// zpipe-simulate: runs the job protocol's simulation over many seeds, or one
// seed with its trace. A failing seed prints the command that replays it.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "sim/simulation.hpp"

namespace {

int usage(int code) {
  std::cerr << "usage: zpipe-simulate [--seeds N] [--first S] [--seed S [--trace]]\n"
               "  --seeds N   run seeds FIRST..FIRST+N-1 (default 1000, FIRST 1)\n"
               "  --seed S    run seed S alone and print what it chose; --trace prints its last steps\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seeds = 1000;
  std::uint64_t first = 1;
  bool one = false;
  bool trace = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto number = [&](std::uint64_t& into) {
      if (i + 1 >= argc) return false;
      char* end = nullptr;
      into = std::strtoull(argv[++i], &end, 10);
      return end != nullptr && *end == '\0';
    };
    if (arg == "--seeds" && number(seeds)) continue;
    if (arg == "--first" && number(first)) continue;
    if (arg == "--seed" && number(first)) {
      one = true;
      seeds = 1;
      continue;
    }
    if (arg == "--trace") {
      trace = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") return usage(0);
    std::cerr << "zpipe-simulate: bad argument '" << arg << "'\n";
    return usage(2);
  }
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t failed = 0;
  std::uint64_t steps = 0;
  double simulated = 0;
  for (std::uint64_t seed = first; seed < first + seeds; ++seed) {
    const auto outcome = zpipe::sim::simulate({seed, trace});
    steps += outcome.steps;
    simulated += outcome.simulated_seconds;
    if (one) std::cerr << "seed " << seed << ": " << outcome.scenario << "\n";
    if (!outcome.trace.empty() && (trace || !outcome.passed)) std::cerr << outcome.trace;
    if (outcome.passed) continue;
    ++failed;
    std::cerr << "FAILED seed " << seed << " (" << outcome.scenario << ") " << outcome.failure
              << "\n  replay: scripts/simulate.sh --seed " << seed << " --trace\n";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("simulated %llu seed(s) in %.1f s (%.0f seeds/hour): %llu steps, %.0f simulated seconds\n",
              static_cast<unsigned long long>(seeds), seconds, seconds > 0 ? static_cast<double>(seeds) / seconds * 3600 : 0,
              static_cast<unsigned long long>(steps), simulated);
  std::printf("%llu passed, %llu failed\n", static_cast<unsigned long long>(seeds - failed),
              static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}
