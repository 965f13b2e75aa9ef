// See command_template.hpp.
#include "command_template.hpp"

#include <array>
#include <utility>

namespace zpipe {
namespace {

std::string_view last_component(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos || path.size() == 1 ? path : path.substr(slash + 1);
}

std::string_view directory(std::string_view path) {
  const auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  return slash == 0 ? std::string_view("/") : path.substr(0, slash);
}

// The extension is the last '.' of the last component, not at its start.
std::string_view without_extension(std::string_view path) {
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash) ||
      dot == (slash == std::string_view::npos ? 0 : slash + 1))
    return path;
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
