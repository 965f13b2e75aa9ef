// See prometheus_text.hpp.
#include "support/prometheus_text.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>

namespace zpipe::testing {

std::map<std::string, double> read_prometheus_text(const std::string& text) {
  static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$)");
  static const std::regex type(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary)$)");
  static const std::regex sample(
      R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf)$)re");
  REQUIRE_FALSE(text.empty());
  REQUIRE(text.back() == '\n');
  std::map<std::string, double> samples;
  std::set<std::string> families;
  std::string family, family_type, helped;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    INFO("line: " << line);
    std::smatch match;
    if (std::regex_match(line, match, help)) {
      REQUIRE(families.insert(match[1]).second);  // one HELP per family
      helped = match[1];
      family.clear();
    } else if (std::regex_match(line, match, type)) {
      REQUIRE(match[1] == helped);  // TYPE right after its HELP
      family = match[1];
      family_type = match[2];
      // Counters, and only counters, end in _total (as promtool's lint says).
      const bool total = family.size() > 6 && family.substr(family.size() - 6) == "_total";
      REQUIRE(total == (family_type == "counter"));
    } else if (std::regex_match(line, match, sample)) {
      REQUIRE_FALSE(family.empty());  // a sample under a HELP and TYPE
      const std::string name = match[1];
      if (family_type == "summary") REQUIRE((name == family + "_sum" || name == family + "_count"));
      else REQUIRE(name == family);
      const std::string key = name + std::string(match[2]);
      REQUIRE(samples.emplace(key, std::stod(match[3])).second);  // no sample twice
    } else {
      FAIL("not a HELP, TYPE or sample line of the text format");
    }
  }
  return samples;
}

int promtool_check(const std::filesystem::path& file) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return -1;
  const int status = std::system(("promtool check metrics < '" + file.string() + "'").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace zpipe::testing
