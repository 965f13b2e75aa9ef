// libFuzzer target: any bytes given to the frame decoder either decode or
// throw codec_error; a frame that decodes encodes to one that decodes to the
// same message; and decode(), which reads plain tasks and results frames
// directly, gives the same message or the same error as the generic decoder.
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
  return 0;
}
