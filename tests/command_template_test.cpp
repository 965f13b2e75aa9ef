// --command TEMPLATE: GNU parallel's replacement strings, and quoting that
// hands any input line to the command as exactly one word.
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "command_template.hpp"

using zpipe::expand_command;

TEST_CASE("replacement strings take the parts of the input that GNU parallel gives them") {
  auto [command, input, expanded] = GENERATE(table<std::string, std::string, std::string>({
      {"gzip {}", "dir/a.tar.gz", "gzip 'dir/a.tar.gz'"},
      {"echo {.}", "dir/a.tar.gz", "echo 'dir/a.tar'"},
      {"echo {/}", "dir/a.tar.gz", "echo 'a.tar.gz'"},
      {"echo {//}", "dir/sub/a.txt", "echo 'dir/sub'"},
      {"echo {//}", "a.txt", "echo '.'"},
      {"echo {/.}", "dir/a.txt", "echo 'a'"},
      {"echo {.}", "dir.d/a", "echo 'dir.d/a'"},
      // Edge cases as parallel 20221122 gives them (its definitions are
      // regexes and Perl's dirname): a leading '.' is an extension too, a
      // trailing '/' leaves {/} empty, {//} is dirname(1)'s.
      {"echo {.}", ".bashrc", "echo ''"},
      {"echo {.}", "dir/.hidden", "echo 'dir/'"},
      {"echo {.}", "a.", "echo 'a'"},
      {"echo {/.}", ".bashrc", "echo ''"},
      {"echo {/}", "x/", "echo ''"},
      {"echo {/}", "/", "echo ''"},
      {"echo {//}", "x/", "echo '.'"},
      {"echo {//}", "x//", "echo '.'"},
      {"echo {//}", "/", "echo '/'"},
      {"echo {//}", "/root.txt", "echo '/'"},
      {"echo {//}", "//x", "echo '/'"},
      {"echo {//}", "a//b", "echo 'a'"},
      {"echo {//}", "", "echo '.'"},
      {"echo {#}: {}", "x", "echo 7: 'x'"},
      {"wc -l", "my file.txt", "wc -l 'my file.txt'"},
      {"echo {}", "it's", "echo 'it'\\''s'"},
      {"echo {} {}", "a", "echo 'a' 'a'"},
      {"echo {x}", "a", "echo {x} 'a'"},
  }));
  CAPTURE(command, input);
  CHECK(expand_command(command, input, 7) == expanded);
}

TEST_CASE("any input line reaches the command as one word, never as shell syntax") {
  const std::string input = GENERATE(as<std::string>{}, "plain", "two  spaces", "quote's", "dq \"x\"", "$(touch /tmp/zpipe-pwned)",
                                     "`id`", "a;b|c&d", "back\\slash", "*", "-n", "tab\there", "");
  const std::string command = expand_command("printf '%s|' {}", input, 1);
  FILE* shell = ::popen(command.c_str(), "r");
  REQUIRE(shell != nullptr);
  std::string out;
  char chunk[256];
  for (std::size_t got; (got = std::fread(chunk, 1, sizeof chunk, shell)) > 0;) out.append(chunk, got);
  CHECK(::pclose(shell) == 0);
  CAPTURE(command);
  CHECK(out == input + "|");
}
