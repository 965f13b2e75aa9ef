// libFuzzer target: any bytes given to the frame decoder either decode or
// throw codec_error; a frame that decodes encodes to one that decodes to the
// same message; and decode(), which reads plain tasks and results frames
// directly, gives the same message or the same error as the generic decoder;
// and a frame decode_integer_tasks takes decodes to the same tasks.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "zpipe/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  (void)zpipe::peek_type(frame);
  std::optional<zpipe::Message> generic;
  std::string generic_error;
  try {
    generic = zpipe::decode_generic(frame);
  } catch (const zpipe::codec_error& e) {
    generic_error = e.what();
  }
  try {
    const zpipe::Message message = zpipe::decode(frame);
    if (!generic || *generic != message) std::abort();
    if (zpipe::decode(zpipe::encode(message)) != message) std::abort();
  } catch (const zpipe::codec_error& e) {
    if (generic || e.what() != generic_error) std::abort();
  }
  zpipe::IntegerTasks columns;
  if (zpipe::decode_integer_tasks(frame, columns)) {
    const auto* tasks = generic ? std::get_if<zpipe::TaskBatch>(&*generic) : nullptr;
    if (tasks == nullptr || tasks->job != columns.job || tasks->kind != columns.kind ||
        tasks->tasks.size() != columns.ids.size() || tasks->leases != columns.leases ||
        tasks->attempts != columns.attempts || tasks->frames != columns.frames)
      std::abort();
    for (std::size_t i = 0; i < columns.ids.size(); ++i)
      if (tasks->tasks[i].id != columns.ids[i] || tasks->tasks[i].payload != zpipe::Value{columns.payloads[i]})
        std::abort();
  }
  return 0;
}
