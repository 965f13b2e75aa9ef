// See range_set.hpp.
#include "zpipe/range_set.hpp"

namespace zpipe {

void RangeSet::add(TaskId first, TaskId last) {
  // Merge with every range that overlaps or touches [first, last].
  auto at = ranges_.upper_bound(first);
  if (at != ranges_.begin() && std::prev(at)->second + 1 >= first) --at;
  while (at != ranges_.end() && at->first <= last + 1) {
    if (at->first < first) first = at->first;
    if (at->second > last) last = at->second;
    count_ -= at->second - at->first + 1;
    at = ranges_.erase(at);
  }
  ranges_.emplace(first, last);
  count_ += last - first + 1;
}

bool RangeSet::take(TaskId id) {
  while (!ranges_.empty() && ranges_.begin()->second < id) ranges_.erase(ranges_.begin());
  return !ranges_.empty() && ranges_.begin()->first <= id;
}

}  // namespace zpipe
