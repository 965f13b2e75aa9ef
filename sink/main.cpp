// zpipe-sink: collects a job's results.
#include "zpipe/guarded_main.hpp"
#include "zpipe/sink.hpp"
#include "zpipe/stop_signal.hpp"

int main(int argc, char** argv) {
  return zpipe::guarded_main("sink", [&] {
    const auto config = zpipe::parse_sink_options(argc, argv);
    zpipe::install_stop_signals();
    return zpipe::run_sink(config);
  });
}
