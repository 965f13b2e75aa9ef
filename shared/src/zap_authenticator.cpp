// See zap_authenticator.hpp.
#include "zpipe/zap_authenticator.hpp"

#include <chrono>
#include <filesystem>
#include <vector>

#include "zpipe/curve.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"

namespace zpipe {
namespace {

std::set<std::string> read_allow_list(const std::string& dir) {
  std::set<std::string> keys;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() != ".pub") continue;
    try {
      if (const auto key = decode_z85_key(read_public_key_file(entry.path().string(), "allow-keys"))) keys.insert(*key);
    } catch (const usage_error& e) {
      log_line(std::string("allow-list: skipping ") + e.what());
    }
  }
  if (error) throw usage_error("--allow-keys " + dir + ": " + error.message());
  return keys;
}

std::string z85(const std::string& binary_key) {
  char text[41] = {};
  zmq_z85_encode(text, reinterpret_cast<const std::uint8_t*>(binary_key.data()), binary_key.size());
  return text;
}

}  // namespace

ZapAuthenticator::ZapAuthenticator(zmq::context_t& context, std::string allow_dir)
    : allow_dir_(std::move(allow_dir)), allowed_(read_allow_list(allow_dir_)), handler_(context, zmq::socket_type::rep) {
  handler_.set(zmq::sockopt::linger, 0);
  handler_.bind("inproc://zeromq.zap.01");
  log_line("allow-list " + allow_dir_ + ": " + std::to_string(allowed_.size()) + " client key(s)");
  thread_ = std::thread(&ZapAuthenticator::serve, this);
}

ZapAuthenticator::~ZapAuthenticator() {
  stopping_ = true;
  thread_.join();
}

void ZapAuthenticator::reload() {
  try {
    auto keys = read_allow_list(allow_dir_);
    if (keys != allowed_)
      log_line("allow-list " + allow_dir_ + " changed: " + std::to_string(keys.size()) + " client key(s) now");
    allowed_ = std::move(keys);
  } catch (const usage_error& e) {
    log_line(std::string(e.what()) + "; keeping the allow-list read before");
  }
}

void ZapAuthenticator::serve() {
  RejectionLog refusals("client");
  std::vector<zmq::message_t> request;
  auto next_reload = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!stopping_) {
    zmq::pollitem_t items[] = {{handler_.handle(), 0, ZMQ_POLLIN, 0}};
    poll_sockets(items, std::chrono::milliseconds(100));
    if (std::chrono::steady_clock::now() >= next_reload) {
      reload();
      next_reload = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    const std::size_t parts = receive_parts(handler_, request);
    if (parts == 0) continue;
    // version, request id, domain, address, routing id, mechanism, credentials...
    const std::string request_id = parts > 1 ? std::string(view(request[1])) : std::string();
    const std::string address = parts > 3 ? std::string(view(request[3])) : "?";
    const std::string mechanism = parts > 5 ? std::string(view(request[5])) : "";
    const std::string key = parts > 6 ? std::string(view(request[6])) : "";
    std::string status = "200";
    std::string reason = "OK";
    if (parts < 6 || view(request[0]) != "1.0") {
      status = "500";
      reason = "malformed ZAP request";
    } else if (mechanism != "CURVE") {
      status = "400";
      reason = "mechanism " + mechanism + " is not allowed: a client key is required";
    } else if (allowed_.count(key) == 0) {
      status = "400";
      reason = "client key " + z85(key) + " is not in the allow-list " + allow_dir_;
    }
    if (status != "200") refusals.reject("from " + address + ": " + reason);
    const std::vector<std::string> reply{"1.0", request_id, status, reason, status == "200" ? z85(key) : "", ""};
    for (std::size_t i = 0; i < reply.size(); ++i)
      handler_.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace zpipe
