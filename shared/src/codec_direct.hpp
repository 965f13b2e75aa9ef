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
/// As decode_direct, into `out`: a message of the frame's type already
/// there lends its vectors (no allocation per frame once they are large
/// enough). False, with `out` unspecified, where decode_direct gives nullopt.
[[nodiscard]] bool decode_direct_into(std::string_view frame, const DecodeLimits& limits, Message& out);

}  // namespace zpipe::detail
