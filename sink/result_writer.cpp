// See result_writer.hpp.
#include "zpipe/result_writer.hpp"

#include <charconv>

namespace zpipe {
namespace {

void append_integer(std::string& out, std::uint64_t number) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
  out.append(digits, end);
}

void append_integer(std::string& out, std::int64_t number) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
  out.append(digits, end);
}

// Length of the valid UTF-8 sequence at text[0], or 0 when it is not one.
std::size_t utf8_sequence(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xe ? 3 : (lead >> 3) == 0x1e ? 4 : 0;
  if (length == 0 || length > text.size() || lead == 0xc0 || lead == 0xc1 || lead > 0xf4) return 0;
  for (std::size_t i = 1; i < length; ++i)
    if ((static_cast<unsigned char>(text[i]) >> 6) != 0x2) return 0;
  return length;
}

// JSON needs valid UTF-8; payloads are bytes, so anything else becomes U+FFFD.
void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  while (!text.empty()) {
    const char c = text[0];
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (byte < 0x20 || byte == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out.append("\\u00");
      out.push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 0xf]);
    } else if (byte >= 0x80) {
      const std::size_t length = utf8_sequence(text);
      if (length == 0) {
        out.append("\\ufffd");
      } else {
        out.append(text.substr(0, length));
        text.remove_prefix(length - 1);
      }
    } else {
      out.push_back(c);
    }
    text.remove_prefix(1);
  }
  out.push_back('"');
}

void append_json_value(std::string& out, const Value& value) {
  if (const auto* number = std::get_if<std::int64_t>(&value)) append_integer(out, *number);
  else if (const auto* text = std::get_if<std::string>(&value)) append_json_string(out, *text);
  else out.append("null");
}

void append_csv_field(std::string& out, std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(text);
    return;
  }
  out.push_back('"');
  for (const char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_value_text(std::string& out, const Value& value) {
  if (const auto* number = std::get_if<std::int64_t>(&value)) append_integer(out, *number);
  else if (const auto* text = std::get_if<std::string>(&value)) out.append(*text);
}

// msgpack in its smallest forms (PROTOCOL.md §2), written by hand: the
// records are small and flat, and this is the hot path.
void append_big_endian(std::string& out, std::uint64_t number, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) out.push_back(static_cast<char>(number >> shift));
}

void append_msgpack_uint(std::string& out, std::uint64_t number) {
  if (number < 0x80) out.push_back(static_cast<char>(number));
  else if (number <= 0xff) { out.push_back(static_cast<char>(0xcc)); append_big_endian(out, number, 1); }
  else if (number <= 0xffff) { out.push_back(static_cast<char>(0xcd)); append_big_endian(out, number, 2); }
  else if (number <= 0xffffffff) { out.push_back(static_cast<char>(0xce)); append_big_endian(out, number, 4); }
  else { out.push_back(static_cast<char>(0xcf)); append_big_endian(out, number, 8); }
}

void append_msgpack_int(std::string& out, std::int64_t number) {
  if (number >= 0) return append_msgpack_uint(out, static_cast<std::uint64_t>(number));
  const auto bits = static_cast<std::uint64_t>(number);
  if (number >= -32) out.push_back(static_cast<char>(number));
  else if (number >= -128) { out.push_back(static_cast<char>(0xd0)); append_big_endian(out, bits, 1); }
  else if (number >= -32768) { out.push_back(static_cast<char>(0xd1)); append_big_endian(out, bits, 2); }
  else if (number >= -2147483648LL) { out.push_back(static_cast<char>(0xd2)); append_big_endian(out, bits, 4); }
  else { out.push_back(static_cast<char>(0xd3)); append_big_endian(out, bits, 8); }
}

void append_msgpack_str(std::string& out, std::string_view text) {
  const std::size_t size = text.size();
  if (size < 32) out.push_back(static_cast<char>(0xa0 | size));
  else if (size <= 0xff) { out.push_back(static_cast<char>(0xd9)); append_big_endian(out, size, 1); }
  else if (size <= 0xffff) { out.push_back(static_cast<char>(0xda)); append_big_endian(out, size, 2); }
  else { out.push_back(static_cast<char>(0xdb)); append_big_endian(out, size, 4); }
  out.append(text);
}

}  // namespace

ResultWriter::ResultWriter(OutputFormat format) : format_(format) {
  if (format_ == OutputFormat::csv) buffer_.append("task_id,status,result,error,worker\n");
}

void ResultWriter::write(const Result& result, std::string_view worker) {
  switch (format_) {
    case OutputFormat::text: write_text(result, worker); break;
    case OutputFormat::jsonl: write_jsonl(result, worker); break;
    case OutputFormat::csv: write_csv(result, worker); break;
    case OutputFormat::msgpack: write_msgpack(result, worker); break;
  }
}

void ResultWriter::write_msgpack(const Result& result, std::string_view worker) {
  buffer_.push_back(static_cast<char>(0x94));
  append_msgpack_uint(buffer_, result.id);
  buffer_.push_back(static_cast<char>(result.ok ? 0xc3 : 0xc2));
  if (const auto* number = std::get_if<std::int64_t>(&result.value)) append_msgpack_int(buffer_, *number);
  else if (const auto* text = std::get_if<std::string>(&result.value)) append_msgpack_str(buffer_, *text);
  else buffer_.push_back(static_cast<char>(0xc0));
  append_msgpack_str(buffer_, worker);
}

void ResultWriter::write_text(const Result& result, std::string_view) {
  buffer_.append("task ");
  append_integer(buffer_, result.id);
  buffer_.append(result.ok ? ": " : " FAILED: ");
  append_value_text(buffer_, result.value);
  buffer_.push_back('\n');
}

void ResultWriter::write_jsonl(const Result& result, std::string_view worker) {
  buffer_.append("{\"task_id\":");
  append_integer(buffer_, result.id);
  buffer_.append(result.ok ? ",\"status\":\"ok\",\"result\":" : ",\"status\":\"error\",\"result\":null,\"error\":");
  append_json_value(buffer_, result.value);
  if (result.ok) buffer_.append(",\"error\":null");
  buffer_.append(",\"worker\":");
  append_json_string(buffer_, worker);
  buffer_.append("}\n");
}

void ResultWriter::write_csv(const Result& result, std::string_view worker) {
  append_integer(buffer_, result.id);
  buffer_.append(result.ok ? ",ok," : ",error,,");
  std::string text;
  append_value_text(text, result.value);
  append_csv_field(buffer_, text);
  if (result.ok) buffer_.push_back(',');
  buffer_.push_back(',');
  append_csv_field(buffer_, worker);
  buffer_.push_back('\n');
}

}  // namespace zpipe
