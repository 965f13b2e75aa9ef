// See result_writer.hpp.
#include "zpipe/result_writer.hpp"

#include "zpipe/msgpack_writer.hpp"

#include <bit>
#include <concepts>
#include <cstring>
#include <type_traits>

namespace zpipe {
namespace {

template <std::integral Integer>
void append_integer(std::string& out, Integer number) {
  char digits[decimal_room];
  if constexpr (std::is_signed_v<Integer>) out.append(digits, write_decimal(digits, std::int64_t{number}));
  else out.append(digits, write_decimal(digits, std::uint64_t{number}));
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

bool valid_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = utf8_sequence(text.substr(at));
    if (length == 0) return false;
    at += length;
  }
  return true;
}

// Bytes as one line of UTF-8 that says exactly which bytes they were:
// backslash, quote, control characters and bytes that are not UTF-8 are
// escaped C-style (\\, \", \n, \t, \r, \xHH), so the byte 0xff reads
// \xff and the four characters \xff read \\xff.
void append_escaped(std::string& out, std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  while (!bytes.empty()) {
    const char c = bytes[0];
    const auto byte = static_cast<unsigned char>(c);
    std::size_t length = 1;
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else if (c == '\t') {
      out.append("\\t");
    } else if (c == '\r') {
      out.append("\\r");
    } else if (byte < 0x20 || byte == 0x7f || (byte >= 0x80 && utf8_sequence(bytes) == 0)) {
      out.append("\\x");
      out.push_back(hex[byte >> 4]);
      out.push_back(hex[byte & 0xf]);
    } else {
      length = byte >= 0x80 ? utf8_sequence(bytes) : 1;
      out.append(bytes.substr(0, length));
    }
    bytes.remove_prefix(length);
  }
}

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t at = 0;
  for (; at + 3 <= bytes.size(); at += 3) {
    const auto n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at])) << 16 |
                   static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 8 |
                   static_cast<unsigned char>(bytes[at + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(alphabet[(n >> shift) & 63]);
  }
  if (const std::size_t left = bytes.size() - at; left > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at])) << 16;
    if (left == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 8;
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(left == 2 ? alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
}

// Seconds with three decimals, as GNU parallel's joblog writes times.
void append_seconds(std::string& out, std::int64_t microseconds) {
  const bool negative = microseconds < 0;
  const std::uint64_t magnitude = negative ? 0 - static_cast<std::uint64_t>(microseconds) : static_cast<std::uint64_t>(microseconds);
  const std::uint64_t millis = (magnitude + 500) / 1000;
  if (negative) out.push_back('-');
  append_integer(out, millis / 1000);
  out.push_back('.');
  const auto fraction = static_cast<unsigned>(millis % 1000);
  out.push_back(static_cast<char>('0' + fraction / 100));
  out.push_back(static_cast<char>('0' + fraction / 10 % 10));
  out.push_back(static_cast<char>('0' + fraction % 10));
}

// A stream as jsonl has it: "NAME":"text" when it is UTF-8, else
// "NAME":null,"NAME_base64":"..." so no byte is lost or guessed at.
void append_json_stream(std::string& out, std::string_view name, std::string_view bytes) {
  out.append(",\"");
  out.append(name);
  out.append("\":");
  if (valid_utf8(bytes)) {
    append_json_string(out, bytes);
    return;
  }
  out.append("null,\"");
  out.append(name);
  out.append("_base64\":\"");
  append_base64(out, bytes);
  out.push_back('"');
}

void append_json_bool(std::string& out, bool flag) { out.append(flag ? "true" : "false"); }

void append_value_text(std::string& out, const Value& value) {
  if (const auto* number = std::get_if<std::int64_t>(&value)) append_integer(out, *number);
  else if (const auto* text = std::get_if<std::string>(&value)) out.append(*text);
  else if (const auto* exec = std::get_if<ExecValue>(&value)) append_escaped(out, (*exec)->out);
}

}  // namespace

ResultWriter::ResultWriter(OutputFormat format, bool tag) : format_(format), tag_(tag) {
  if (format_ == OutputFormat::csv)
    buffer_.append("task_id,status,result,error,worker,exit,signal,stderr,truncated,start,duration,host\n");
}

void ResultWriter::write(const Result& result, std::string_view worker) {
  if (format_ == OutputFormat::text && !tag_)
    if (const auto* number = std::get_if<std::int64_t>(&result.value)) return stage_number_line(result, *number);
  flush_staged();
  switch (format_) {
    case OutputFormat::text: write_text(result, worker); break;
    case OutputFormat::jsonl: write_jsonl(result, worker); break;
    case OutputFormat::csv: write_csv(result, worker); break;
    case OutputFormat::msgpack: write_msgpack(result, worker); break;
  }
}

void ResultWriter::write_msgpack(const Result& result, std::string_view worker) {
  MsgpackWriter out(buffer_);
  out.pack_array(4);
  out.pack_uint64(result.id);
  out.pack_bool(result.ok);
  if (const auto* number = std::get_if<std::int64_t>(&result.value)) out.pack_int64(*number);
  else if (const auto* text = std::get_if<std::string>(&result.value)) out.pack_string(*text);
  else out.pack_nil();
  out.pack_string(worker);
}

// The common line, "task ID: NUMBER", is built in place in the staging
// area: appending each line to the string, even whole, was a sixth of the
// sink's time at millions of results a second (a memmove call per line).
void ResultWriter::stage_number_line(const Result& result, std::int64_t number) {
  if (staged_.size() - staged_length_ < longest_number_line) flush_staged();
  char* const line = staged_.data() + staged_length_;
  std::memcpy(line, "task ", 5);
  char* end = write_id(line + 5, result.id);
  if (result.ok) {
    std::memcpy(end, ": ", 2);
    end += 2;
  } else {
    std::memcpy(end, " FAILED: ", 9);
    end += 9;
  }
  end = write_decimal(end, number);
  *end++ = '\n';
  staged_length_ = static_cast<std::size_t>(end - staged_.data());
}

namespace {

// The low `bytes` bytes of a word set (bytes 0 to 8).
constexpr std::uint64_t low_bytes(std::size_t bytes) { return bytes >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * bytes)) - 1; }
constexpr std::uint64_t every_byte(unsigned char value) { return 0x0101010101010101ULL * value; }

}  // namespace

char* ResultWriter::write_id(char* out, std::uint64_t id) {
  const std::size_t length = last_id_length_;
  if (id == last_id_ + 1 && length > 0 && length <= 8) {
    // The last digit is the top byte in use; count the nines that end the id.
    const std::uint64_t not_nines = (last_id_text_ ^ every_byte('9')) << (8 * (8 - length));
    const std::size_t nines = not_nines == 0 ? length : static_cast<std::size_t>(std::countl_zero(not_nines)) / 8;
    if (nines < length) {  // they become zeros, and the digit before them counts up
      const std::uint64_t nine_bytes = low_bytes(length) & ~low_bytes(length - nines);
      last_id_text_ = last_id_text_ - (nine_bytes & every_byte(9)) + (std::uint64_t{1} << (8 * (length - nines - 1)));
      last_id_ = id;
      std::memcpy(out, &last_id_text_, 8);
      return out + length;
    }
    if (length < 8) {  // all nines: a one and a zero more
      last_id_text_ = (low_bytes(length + 1) & every_byte('0')) + 1;
      last_id_length_ = length + 1;
      last_id_ = id;
      std::memcpy(out, &last_id_text_, 8);
      return out + length + 1;
    }
  }
  char* const end = write_decimal(out, id);
  last_id_ = id;
  last_id_length_ = static_cast<std::size_t>(end - out);
  if (last_id_length_ <= 8) std::memcpy(&last_id_text_, out, 8);
  return end;
}

void ResultWriter::flush_staged() {
  buffer_.append(staged_.data(), staged_length_);
  staged_length_ = 0;
}

void ResultWriter::write_text(const Result& result, std::string_view) {
  if (tag_) {
    if (const auto* exec = std::get_if<ExecValue>(&result.value)) append_escaped(buffer_, (*exec)->command);
    buffer_.push_back('\t');
  }
  buffer_.append("task ");
  append_integer(buffer_, result.id);
  buffer_.append(result.ok ? ": " : " FAILED: ");
  if (const auto* exec = std::get_if<ExecValue>(&result.value)) {
    // One line per task whatever the command wrote: its streams escaped.
    const ExecRecord& record = **exec;
    if (!result.ok) {
      buffer_.append(record.error);
      buffer_.append("; stdout ");
    }
    buffer_.push_back('"');
    append_escaped(buffer_, record.out);
    buffer_.push_back('"');
    if (!record.err.empty() || !result.ok) {
      buffer_.append(" stderr \"");
      append_escaped(buffer_, record.err);
      buffer_.push_back('"');
    }
    if (record.out_truncated || record.err_truncated) buffer_.append(" (truncated)");
  } else {
    append_value_text(buffer_, result.value);
  }
  buffer_.push_back('\n');
}

void ResultWriter::write_jsonl(const Result& result, std::string_view worker) {
  if (const auto* exec = std::get_if<ExecValue>(&result.value)) {
    write_exec_jsonl(result, **exec, worker);
    return;
  }
  buffer_.append("{\"task_id\":");
  append_integer(buffer_, result.id);
  buffer_.append(result.ok ? ",\"status\":\"ok\",\"result\":" : ",\"status\":\"error\",\"result\":null,\"error\":");
  append_json_value(buffer_, result.value);
  if (result.ok) buffer_.append(",\"error\":null");
  buffer_.append(",\"worker\":");
  append_json_string(buffer_, worker);
  buffer_.append("}\n");
}

// An exec task: `result` holds stdout even when it failed (its error says
// why), so nothing the command said is dropped.
void ResultWriter::write_exec_jsonl(const Result& result, const ExecRecord& record, std::string_view worker) {
  buffer_.append("{\"task_id\":");
  append_integer(buffer_, result.id);
  buffer_.append(result.ok ? ",\"status\":\"ok\",\"result\":" : ",\"status\":\"error\",\"result\":");
  if (valid_utf8(record.out)) append_json_string(buffer_, record.out);
  else buffer_.append("null");
  buffer_.append(",\"error\":");
  if (result.ok) buffer_.append("null");
  else append_json_string(buffer_, record.error);
  buffer_.append(",\"worker\":");
  append_json_string(buffer_, worker);
  buffer_.append(",\"host\":");
  append_json_string(buffer_, record.host);
  buffer_.append(",\"exit\":");
  if (record.exit_code >= 0) append_integer(buffer_, record.exit_code);
  else buffer_.append("null");
  buffer_.append(",\"signal\":");
  if (record.signal != 0) append_integer(buffer_, record.signal);
  else buffer_.append("null");
  append_json_stream(buffer_, "stdout", record.out);
  append_json_stream(buffer_, "stderr", record.err);
  buffer_.append(",\"stdout_truncated\":");
  append_json_bool(buffer_, record.out_truncated);
  buffer_.append(",\"stderr_truncated\":");
  append_json_bool(buffer_, record.err_truncated);
  buffer_.append(",\"start\":");
  append_seconds(buffer_, record.started_us);
  buffer_.append(",\"duration\":");
  append_seconds(buffer_, record.duration_us);
  // The command it ran, so each result maps to its input line; null from a
  // worker older than the record's command field.
  if (record.command.empty()) {
    buffer_.append(",\"input\":null");
  } else if (valid_utf8(record.command)) {
    buffer_.append(",\"input\":");
    append_json_string(buffer_, record.command);
  } else {
    append_json_stream(buffer_, "input", record.command);
  }
  buffer_.append("}\n");
}

void ResultWriter::write_csv(const Result& result, std::string_view worker) {
  append_integer(buffer_, result.id);
  const auto* exec = std::get_if<ExecValue>(&result.value);
  buffer_.append(result.ok ? ",ok," : ",error,");
  std::string text;
  if (result.ok || exec != nullptr) append_value_text(text, result.value);
  append_csv_field(buffer_, text);
  buffer_.push_back(',');
  if (!result.ok) {
    text.clear();
    if (exec != nullptr) text = (*exec)->error;
    else append_value_text(text, result.value);
    append_csv_field(buffer_, text);
  }
  buffer_.push_back(',');
  append_csv_field(buffer_, worker);
  if (exec != nullptr) {
    const ExecRecord& record = **exec;
    buffer_.push_back(',');
    if (record.exit_code >= 0) append_integer(buffer_, record.exit_code);
    buffer_.push_back(',');
    if (record.signal != 0) append_integer(buffer_, record.signal);
    buffer_.push_back(',');
    text.clear();
    append_escaped(text, record.err);
    append_csv_field(buffer_, text);
    buffer_.append(record.out_truncated ? (record.err_truncated ? ",both," : ",stdout,") : (record.err_truncated ? ",stderr," : ",,"));
    append_seconds(buffer_, record.started_us);
    buffer_.push_back(',');
    append_seconds(buffer_, record.duration_us);
    buffer_.push_back(',');
    append_csv_field(buffer_, record.host);
  } else {
    buffer_.append(",,,,,,,");
  }
  buffer_.push_back('\n');
}

}  // namespace zpipe
