// The payload of a task and the value of a result: nil, a signed integer or a
// string of bytes. Kept this small on purpose so that every language's msgpack
// library maps it without custom types (see shared/PROTOCOL.md, "Values").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace zpipe {

using Value = std::variant<std::monostate, std::int64_t, std::string>;

/// Returns the integer a value holds, or the integer its text spells (as a
/// task line like "42" does); nullopt when it is neither.
[[nodiscard]] std::optional<std::int64_t> as_integer(const Value& value);

/// Returns the text of a value: strings as they are, integers in decimal, nil
/// as the empty string.
[[nodiscard]] std::string as_text(const Value& value);

}  // namespace zpipe
