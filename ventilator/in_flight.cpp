// See in_flight.hpp.
#include "in_flight.hpp"

namespace zpipe {

TaskId InFlightTable::add(Value payload) {
  entries_.push_back(Entry{std::move(payload), no_holder, false});
  ++unacknowledged_;
  return next_id_++;
}

}  // namespace zpipe
