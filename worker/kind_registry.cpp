// The table of task kinds a worker can run.
#include "zpipe/worker.hpp"

namespace zpipe {

void KindRegistry::add(std::string name, TaskFunction function, IntegerFunction integer) {
  kinds_[std::move(name)] = Kind{std::move(function), integer};
}

const TaskFunction* KindRegistry::find(std::string_view name) const {
  const auto found = kinds_.find(name);
  return found == kinds_.end() ? nullptr : &found->second.function;
}

IntegerFunction KindRegistry::find_integer(std::string_view name) const {
  const auto found = kinds_.find(name);
  return found == kinds_.end() ? nullptr : found->second.integer;
}

std::string KindRegistry::names() const {
  std::string list;
  for (const auto& [name, kind] : kinds_) list += (list.empty() ? "" : ", ") + name;
  return list;
}

std::vector<std::string> KindRegistry::list() const {
  std::vector<std::string> list;
  list.reserve(kinds_.size());
  for (const auto& [name, kind] : kinds_) list.push_back(name);
  return list;
}

}  // namespace zpipe
