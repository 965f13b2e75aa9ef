// The ZAP handler (ZeroMQ RFC 27) of a CURVE server: admits a client only if
// its public key is in one of the allow-list directories (allow_list.hpp).
// The directories are read again every second on a thread of their own, so
// a handshake never waits on the file system, and a key is revoked by
// removing its file, without a restart. The server's main thread checks
// every peer against the latest reading (PeerTrust), so a revoked key is
// refused on connections that are already open too.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "zpipe/allow_list.hpp"

namespace zpipe {

class ZapAuthenticator {
 public:
  /// Reads the allow-lists and starts answering at inproc://zeromq.zap.01
  /// in `context`. Construct it before any CURVE server socket binds.
  /// Throws usage_error when a directory cannot be read at start.
  ZapAuthenticator(zmq::context_t& context, std::vector<AllowListSource> sources);
  ~ZapAuthenticator();
  ZapAuthenticator(const ZapAuthenticator&) = delete;
  ZapAuthenticator& operator=(const ZapAuthenticator&) = delete;

  /// The latest reading of the allow-lists.
  [[nodiscard]] std::shared_ptr<const AllowList> allow_list() const;
  /// Goes up by one each time the reading changes: cheap to poll.
  [[nodiscard]] std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  void serve();
  void reload_every_second();
  void publish(AllowList list);

  const std::vector<AllowListSource> sources_;
  mutable std::mutex mutex_;
  std::shared_ptr<const AllowList> allowed_;
  std::atomic<std::uint64_t> generation_{0};
  std::condition_variable stop_wanted_;
  zmq::socket_t handler_;
  std::atomic<bool> stopping_{false};
  std::thread zap_thread_;
  std::thread reload_thread_;
};

}  // namespace zpipe
