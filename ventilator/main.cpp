// zpipe-ventilator: deals a job's tasks to workers.
#include "zpipe/guarded_main.hpp"
#include "zpipe/stop_signal.hpp"
#include "zpipe/ventilator.hpp"

int main(int argc, char** argv) {
  return zpipe::guarded_main("ventilator", [&] {
    const auto config = zpipe::parse_ventilator_options(argc, argv);
    zpipe::install_stop_signals();
    return zpipe::run_ventilator(config);
  });
}
