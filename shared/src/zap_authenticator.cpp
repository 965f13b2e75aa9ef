// See zap_authenticator.hpp.
#include "zpipe/zap_authenticator.hpp"

#include <chrono>

#include "zpipe/curve.hpp"
#include "zpipe/exit_codes.hpp"
#include "zpipe/log.hpp"
#include "zpipe/sockets.hpp"

namespace zpipe {
namespace {

std::string z85(const std::string& binary_key) {
  char text[41] = {};
  zmq_z85_encode(text, reinterpret_cast<const std::uint8_t*>(binary_key.data()), binary_key.size());
  return text;
}

std::string where(const std::vector<AllowListSource>& sources) {
  std::string text;
  for (const auto& source : sources) text += (text.empty() ? "" : ", ") + source.dir;
  return text;
}

}  // namespace

ZapAuthenticator::ZapAuthenticator(zmq::context_t& context, std::vector<AllowListSource> sources)
    : sources_(std::move(sources)), handler_(context, zmq::socket_type::rep) {
  AllowList first = AllowList::read(sources_);
  if (!first.missing_sources().empty()) throw usage_error(first.missing_sources().front());
  for (const auto& problem : first.problems()) log_line("allow-list: " + problem);
  log_line("allow-list " + where(sources_) + ": " + first.describe());
  allowed_ = std::make_shared<const AllowList>(std::move(first));
  handler_.set(zmq::sockopt::linger, 0);
  handler_.bind("inproc://zeromq.zap.01");
  zap_thread_ = std::thread(&ZapAuthenticator::serve, this);
  reload_thread_ = std::thread(&ZapAuthenticator::reload_every_second, this);
}

ZapAuthenticator::~ZapAuthenticator() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_wanted_.notify_all();
  reload_thread_.join();
  zap_thread_.join();
}

std::shared_ptr<const AllowList> ZapAuthenticator::allow_list() const {
  const std::lock_guard lock(mutex_);
  return allowed_;
}

void ZapAuthenticator::publish(AllowList list) {
  const auto before = allow_list();
  if (list.problems() != before->problems())
    for (const auto& problem : list.problems()) log_line("allow-list: " + problem);
  if (list == *before && list.problems() == before->problems()) return;
  if (!(list == *before)) log_line("allow-list " + where(sources_) + " changed: " + list.describe() + " now");
  {
    const std::lock_guard lock(mutex_);
    allowed_ = std::make_shared<const AllowList>(std::move(list));
  }
  generation_.fetch_add(1, std::memory_order_release);
}

void ZapAuthenticator::reload_every_second() {
  std::unique_lock lock(mutex_);
  while (!stop_wanted_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); })) {
    lock.unlock();
    publish(AllowList::read(sources_));
    lock.lock();
  }
}

void ZapAuthenticator::serve() {
  RejectionLog refusals("client");
  std::vector<zmq::message_t> request;
  while (!stopping_) {
    zmq::pollitem_t items[] = {{handler_.handle(), 0, ZMQ_POLLIN, 0}};
    poll_sockets(items, std::chrono::milliseconds(100));
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
    } else if (allow_list()->find(key) == nullptr) {
      status = "400";
      reason = "client key " + z85(key) + " is not in the allow-list " + where(sources_);
    }
    if (status != "200") refusals.reject("from " + address + ": " + reason);
    // The User-Id is the key itself: the server looks it up in the latest
    // allow-list for every peer, so a key removed later is refused then.
    const std::vector<std::string> reply{"1.0", request_id, status, reason, status == "200" ? z85(key) : "", ""};
    for (std::size_t i = 0; i < reply.size(); ++i)
      handler_.send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace zpipe
