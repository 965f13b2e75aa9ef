// How zpipe-status shows a ventilator's status snapshot: a screen like top's
// for people, or one JSON object for programs. Everything in a snapshot
// came over the network, so every string is made printable and escaped.
#pragma once

#include <optional>
#include <string>

#include "zpipe/messages.hpp"

namespace zpipe {

/// Milliseconds until the job's remaining tasks are done at its current
/// rate; nullopt while the total or the rate is unknown.
[[nodiscard]] std::optional<std::uint64_t> eta_ms(const Status& status);

/// The snapshot as a screen of text: the job, its progress, rate and ETA,
/// then a row per worker, by name.
[[nodiscard]] std::string format_status_text(const Status& status);

/// The snapshot as one JSON object on one line (PROTOCOL.md §6.6 names
/// its fields), ending with a newline.
[[nodiscard]] std::string format_status_json(const Status& status);

}  // namespace zpipe
