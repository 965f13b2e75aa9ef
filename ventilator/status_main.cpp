// zpipe-status: shows how a running job stands, as its ventilator sees it.
#include "status_client.hpp"
#include "zpipe/guarded_main.hpp"
#include "zpipe/stop_signal.hpp"

int main(int argc, char** argv) {
  return zpipe::guarded_main("status", [&] {
    const auto config = zpipe::parse_status_options(argc, argv);
    zpipe::install_stop_signals();
    return zpipe::run_status(config);
  });
}
