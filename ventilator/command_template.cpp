// See command_template.hpp.
#include "command_template.hpp"

#include <array>
#include <utility>

namespace zpipe {
namespace {

// Each does what GNU parallel's own definition does (its %Global::replace),
// edge cases included: tests/parallel_compat/ runs both on the same inputs.

// {/}: s:.*/:: (what follows the last '/'; empty when the input ends in '/').
std::string_view last_component(std::string_view path) {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Perl's File::Basename::fileparse: the path up to and with its last '/'
// ("./" when it has none), then its trailing '/'s cut but the first character.
std::string_view parent_of(std::string_view path) {
  const auto slash = path.rfind('/');
  std::string_view parent = slash == std::string_view::npos ? std::string_view("./") : path.substr(0, slash + 1);
  while (parent.size() > 1 && parent.back() == '/') parent.remove_suffix(1);
  return parent;
}

// {//}: File::Basename::dirname, as POSIX dirname(1): "a/b" gives "a",
// "a" and "a/" give ".", "/a" and "/" give "/".
std::string_view directory(std::string_view path) {
  const bool ends_in_slash = !path.empty() && path.back() == '/';
  const std::string_view parent = parent_of(path);
  return ends_in_slash ? parent_of(parent) : parent;
}

// {.}: s:\.[^/.]*$:: (the last '.' and what follows, unless a '/' follows;
// so ".bashrc" gives "" and "a.d/b" stays whole).
std::string_view without_extension(std::string_view path) {
  const auto dot = path.rfind('.');
  if (dot == std::string_view::npos || path.find('/', dot) != std::string_view::npos) return path;
  return path.substr(0, dot);
}

}  // namespace

std::string shell_quote(std::string_view text) {
  std::string quoted = "'";
  for (const char c : text) {
    if (c == '\'') quoted += "'\\''";
    else quoted += c;
  }
  return quoted + "'";
}

std::string expand_command(std::string_view command, std::string_view input, std::uint64_t seq) {
  // Longest first, so "{//}" is not read as "{/}" followed by "/}".
  static constexpr std::array<std::string_view, 6> names{"{//}", "{/.}", "{}", "{.}", "{/}", "{#}"};
  std::string out;
  bool replaced = false;
  for (std::size_t at = 0; at < command.size();) {
    bool matched = false;
    for (const auto name : names) {
      if (command.substr(at, name.size()) != name) continue;
      if (name == "{}") out += shell_quote(input);
      else if (name == "{.}") out += shell_quote(without_extension(input));
      else if (name == "{/}") out += shell_quote(last_component(input));
      else if (name == "{//}") out += shell_quote(directory(input));
      else if (name == "{/.}") out += shell_quote(without_extension(last_component(input)));
      else out += std::to_string(seq);
      at += name.size();
      matched = replaced = true;
      break;
    }
    if (!matched) out += command[at++];
  }
  if (!replaced) out += " " + shell_quote(input);
  return out;
}

namespace {

class CommandSource final : public TaskSource {
 public:
  CommandSource(std::unique_ptr<TaskSource> inner, std::string command)
      : inner_(std::move(inner)), command_(std::move(command)) {}
  std::optional<SourceTask> next() override {
    auto task = inner_->next();
    if (!task) return task;
    ++seq_;
    if (task->error.empty()) task->payload = expand_command(command_, as_text(task->payload), seq_);
    return task;
  }
  [[nodiscard]] bool exhausted() const override { return inner_->exhausted(); }
  [[nodiscard]] int input_fd() const override { return inner_->input_fd(); }
  [[nodiscard]] std::optional<std::uint64_t> known_total() const override { return inner_->known_total(); }
  [[nodiscard]] std::optional<std::string> fingerprint() const override { return inner_->fingerprint(); }

 private:
  std::unique_ptr<TaskSource> inner_;
  std::string command_;
  std::uint64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<TaskSource> command_source(std::unique_ptr<TaskSource> inner, std::string command) {
  return std::make_unique<CommandSource>(std::move(inner), std::move(command));
}

}  // namespace zpipe
