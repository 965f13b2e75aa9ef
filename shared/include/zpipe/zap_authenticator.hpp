// The ZAP handler (ZeroMQ RFC 27) of a CURVE server: admits a client only if
// its public key is in the allow-list directory, one KEY.pub file per client.
// The directory is read again every second, so a key is revoked by removing
// its file, without a restart. Refusals are logged with their reason.
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <thread>

#include <zmq.hpp>

namespace zpipe {

class ZapAuthenticator {
 public:
  /// Reads the allow-list and starts answering at inproc://zeromq.zap.01 in
  /// `context`. Construct it before any CURVE server socket binds. Throws
  /// usage_error when the directory cannot be read.
  ZapAuthenticator(zmq::context_t& context, std::string allow_dir);
  ~ZapAuthenticator();
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;

 private:
  void serve();
  void reload();

  std::string allow_dir_;
  std::set<std::string> allowed_;  // 32-byte binary public keys
  zmq::socket_t handler_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace zpipe
