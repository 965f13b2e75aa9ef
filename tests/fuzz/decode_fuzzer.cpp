// libFuzzer target: any bytes given to the frame decoder either decode or
// throw codec_error; and a frame that decodes encodes to one that decodes
// to the same message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "zpipe/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  (void)zpipe::peek_type(frame);
  try {
    const zpipe::Message message = zpipe::decode(frame);
    if (zpipe::decode(zpipe::encode(message)) != message) std::abort();
  } catch (const zpipe::codec_error&) {
  }
  return 0;
}
