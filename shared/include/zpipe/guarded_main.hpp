// The part of every program's main() after option parsing is written: log
// lines prefixed with the role, and errors mapped to exit codes, each with
// one line on stderr.
#pragma once

#include <exception>
#include <string>
#include <string_view>

#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"

namespace zpipe {

/// Runs `body` (which returns an exit code). A usage_error exits 2, any
/// other exception 3.
template <class Body>
int guarded_main(std::string_view role, Body body) {
  set_log_role(role);
  raise_descriptor_limit();
  try {
    return body();
  } catch (const usage_error& e) {
    log_error(std::string(e.what()) + " (see --help)");
    return exit_usage;
  } catch (const std::exception& e) {
    log_error(e.what());
    return exit_runtime;
  }
}

}  // namespace zpipe
