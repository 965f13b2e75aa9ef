// See allow_list.hpp.
#include "zpipe/allow_list.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "zpipe/curve.hpp"

namespace zpipe {
namespace {

std::string safe_name(std::string_view stem) {
  std::string name(stem.substr(0, AllowList::max_name_bytes));
  for (char& c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      c = '_';
  return name;
}

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The key in `path`, or a reason it is skipped. Only a regular file is
// opened, without blocking, and at most max_key_file_bytes are read.
std::string read_key(const std::string& path, std::string& problem) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0) return problem = std::strerror(errno), "";
  if (!S_ISREG(status.st_mode)) return problem = "not a regular file", "";
  const Fd file{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)};
  if (file.fd < 0) return problem = std::strerror(errno), "";
  if (::fstat(file.fd, &status) != 0 || !S_ISREG(status.st_mode)) return problem = "not a regular file", "";
  if (status.st_size > static_cast<off_t>(AllowList::max_key_file_bytes))
    return problem = "larger than " + std::to_string(AllowList::max_key_file_bytes) + " bytes", "";
  char text[AllowList::max_key_file_bytes + 1];
  ssize_t got = 0;
  while ((got = ::read(file.fd, text, sizeof text)) < 0 && errno == EINTR) {
  }
  if (got < 0) return problem = std::strerror(errno), "";
  std::string_view line(text, static_cast<std::size_t>(got));
  line = line.substr(0, line.find('\n'));
  const auto first = line.find_first_not_of(" \t\r");
  const auto last = line.find_last_not_of(" \t\r");
  const std::string z85 = first == std::string_view::npos ? "" : std::string(line.substr(first, last - first + 1));
  auto key = decode_z85_key(z85);
  if (!key) return problem = "does not hold a CURVE public key (40 Z85 characters)", "";
  return *key;
}

}  // namespace

std::string role_names(Roles roles) {
  std::vector<std::string_view> names;
  if (has_role(roles, Role::ventilator)) names.emplace_back("ventilator");
  if (has_role(roles, Role::worker)) names.emplace_back("worker");
  if (has_role(roles, Role::observer)) names.emplace_back("observer");
  if (names.empty()) return "no role";
  std::string text(names.front());
  for (std::size_t i = 1; i < names.size(); ++i) text += (i + 1 == names.size() ? " and " : ", ") + std::string(names[i]);
  return text;
}

AllowList AllowList::read(const std::vector<AllowListSource>& sources) {
  AllowList list;
  for (const AllowListSource& source : sources) {
    if (source.dir.empty()) {
      AllowedKey& allowed = list.keys_[source.key];
      if (allowed.name.empty()) allowed.name = safe_name(source.name);
      allowed.roles |= static_cast<Roles>(source.role);
      continue;
    }
    const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(source.dir.c_str()), &::closedir);
    if (!dir) {
      list.missing_sources_.push_back("--" + source.option + " " + source.dir + ": " + std::strerror(errno) +
                               "; admitting no " + role_names(static_cast<Roles>(source.role)) + " key from it");
      list.problems_.push_back(list.missing_sources_.back());
      continue;
    }
    while (const dirent* entry = ::readdir(dir.get())) {
      const std::string_view file = entry->d_name;
      if (file.size() <= 4 || file.substr(file.size() - 4) != ".pub") continue;
      const std::string path = source.dir + "/" + std::string(file);
      std::string problem;
      const std::string key = read_key(path, problem);
      if (key.empty()) {
        list.problems_.push_back("skipping " + path + ": " + problem);
        continue;
      }
      AllowedKey& allowed = list.keys_[key];
      if (allowed.name.empty()) allowed.name = safe_name(file.substr(0, file.size() - 4));
      allowed.roles |= static_cast<Roles>(source.role);
    }
  }
  return list;
}

const AllowedKey* AllowList::find(std::string_view key) const {
  const auto found = keys_.find(key);
  return found == keys_.end() ? nullptr : &found->second;
}

std::string AllowList::describe() const {
  std::size_t workers = 0, ventilators = 0, observers = 0;
  for (const auto& [key, allowed] : keys_) {
    workers += has_role(allowed.roles, Role::worker);
    ventilators += has_role(allowed.roles, Role::ventilator);
    observers += has_role(allowed.roles, Role::observer);
  }
  std::string text = std::to_string(workers) + " worker key(s)";
  if (ventilators > 0) text += ", " + std::to_string(ventilators) + " ventilator key(s)";
  if (observers > 0) text += ", " + std::to_string(observers) + " observer key(s)";
  return text;
}

}  // namespace zpipe
