// --halt, as GNU parallel spells it: parsed from the ventilator's command
// line, carried in the job manifest (HaltPolicy, messages.hpp), and judged by
// the sink, which alone knows how many tasks failed and succeeded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "zpipe/messages.hpp"

namespace zpipe {

/// Parses `never`, `0`, `1` (soon,fail=1), `2` (now,fail=1) or
/// `WHEN,WHY=VALUE` with WHEN `soon` or `now`, WHY `fail` or `success`, and
/// VALUE a count N >= 1 or a percentage P% (0 < P <= 100, up to two
/// decimals). Throws usage_error naming what was wrong.
[[nodiscard]] HaltPolicy parse_halt_policy(std::string_view text);

/// The policy as parse_halt_policy reads it (`soon,fail=1`, `now,success=25%`, `never`).
[[nodiscard]] std::string describe(const HaltPolicy& halt);

/// Whether a job of `ok` and `failed` final results meets the policy: a
/// count of that outcome reached, or its share of the results completed
/// (at least one) reached.
[[nodiscard]] bool halt_reached(const HaltPolicy& halt, std::uint64_t ok, std::uint64_t failed);

}  // namespace zpipe
