// --command TEMPLATE: each input line becomes a shell command line, with GNU
// parallel's replacement strings ({} {.} {/} {//} {/.} {#}) filled in and
// every piece of input quoted for the shell, so no input text is ever run
// as shell syntax.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "zpipe/task_source.hpp"

namespace zpipe {

/// Quotes `text` as one shell word: 'text', with each ' written '\''.
[[nodiscard]] std::string shell_quote(std::string_view text);

/// Fills `command` for input line `input`, task number `seq`:
///   {}  the line          {.}  without its extension   {/}  its last path component
///   {//} its directory    {/.} last component, no extension   {#} seq
/// Each value is shell-quoted ({#} is a number). A template with none of
/// them gets " {}" appended, as parallel does.
[[nodiscard]] std::string expand_command(std::string_view command, std::string_view input, std::uint64_t seq);

/// A source whose payloads are `inner`'s lines expanded through `command`.
/// Its fingerprint is inner's (the template is not part of it).
[[nodiscard]] std::unique_ptr<TaskSource> command_source(std::unique_ptr<TaskSource> inner, std::string command);

}  // namespace zpipe
