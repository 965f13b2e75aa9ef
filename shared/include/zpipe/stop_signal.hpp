// SIGINT and SIGTERM ask a program to stop; loops poll with short timeouts
// and check this flag, so every program stops cleanly and says how far it got.
#pragma once

namespace zpipe {

/// Installs handlers for SIGINT and SIGTERM that record the signal, and
/// ignores SIGPIPE so a closed output is an error we report, not a crash.
void install_stop_signals();

/// Returns the signal that asked us to stop, or 0.
[[nodiscard]] int stop_signal();

[[nodiscard]] inline bool stop_requested() { return stop_signal() != 0; }

/// How many stop signals have arrived: a second one means "stop now".
[[nodiscard]] int stop_signals_received();

}  // namespace zpipe
