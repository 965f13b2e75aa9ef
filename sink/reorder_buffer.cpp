// See reorder_buffer.hpp.
#include "zpipe/reorder_buffer.hpp"

namespace zpipe {

std::size_t ReorderBuffer::held_bytes(const Result& result, std::string_view worker) {
  // A map node is about four pointers and a colour beside the entry.
  std::size_t bytes = sizeof(Held) + 5 * sizeof(void*) + worker.size();
  if (const auto* text = std::get_if<std::string>(&result.value)) bytes += text->size();
  else if (const auto* exec = std::get_if<ExecValue>(&result.value))
    bytes += sizeof(ExecRecord) + exec->record->out.size() + exec->record->err.size() + exec->record->host.size() +
             exec->record->error.size() + exec->record->command.size();
  return bytes;
}

}  // namespace zpipe
