// The direct reader of the two frames on the hot path, tasks and results:
// it walks the msgpack bytes once and fills the message, where the generic
// decoder first builds a tree of msgpack objects and then reads the tree
// (half of a worker's time at batch 1 went there).
//
// It takes only the plain shape of these frames: scalar payloads and values,
// no trailing fields beyond attempts, every limit well inside. Anything else,
// an error included, it leaves to the generic decoder (nullopt), which
// decides and words the error, so both give the same message or the same
// error for every frame (tests/codec_test.cpp and the decode fuzzer compare
// them).
#pragma once

#include <optional>
#include <string_view>

#include "zpipe/codec.hpp"
#include "zpipe/messages.hpp"

namespace zpipe::detail {

[[nodiscard]] std::optional<Message> decode_direct(std::string_view frame, const DecodeLimits& limits);

}  // namespace zpipe::detail
