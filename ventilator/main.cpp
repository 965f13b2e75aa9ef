// zpipe-ventilator: deals a job's tasks to workers.
#include "ventilator.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/stop_signal.hpp"

int main(int argc, char** argv) {
  zpipe::set_log_role("ventilator");
  try {
    const auto config = zpipe::parse_ventilator_options(argc, argv);
    zpipe::install_stop_signals();
    return zpipe::run_ventilator(config);
  } catch (const zpipe::usage_error& e) {
    zpipe::log_line(std::string(e.what()) + " (see --help)");
    return zpipe::exit_usage;
  } catch (const std::exception& e) {
    zpipe::log_line(e.what());
    return zpipe::exit_runtime;
  }
}
