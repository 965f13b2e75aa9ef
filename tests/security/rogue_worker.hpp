// An admitted worker that does what the test tells it: a real CURVE client
// of both servers, speaking the protocol frame by frame, so a test can make
// it hoard, forge, flood or lie about its name.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "zpipe/codec.hpp"
#include "zpipe/curve.hpp"
#include "zpipe/sockets.hpp"

namespace zpipe::testing {

class RogueWorker {
 public:
  /// Connects with `own` keys to the ventilator and the sink.
  RogueWorker(const CurveKeyPair& own, const std::string& ventilator_endpoint, const std::string& ventilator_key,
              const std::string& sink_endpoint, const std::string& sink_key)
      : to_ventilator_(open_socket(context_, zmq::socket_type::dealer)),
        to_sink_(open_socket(context_, zmq::socket_type::dealer)) {
    make_curve_client(to_ventilator_, own, ventilator_key);
    make_curve_client(to_sink_, own, sink_key);
    to_ventilator_.connect(ventilator_endpoint);
    to_sink_.connect(sink_endpoint);
  }

  void to_ventilator(const Message& message) { send_frame(to_ventilator_, encode(message), false); }
  void to_sink(const Message& message) { send_frame(to_sink_, encode(message), false); }
  /// A frame as bytes, however malformed or old.
  void raw_to_ventilator(std::string_view frame) { send_frame(to_ventilator_, frame, false); }
  void raw_to_sink(std::string_view frame) { send_frame(to_sink_, frame, false); }

  /// Receives from the ventilator for `limit`, or until done(); calls
  /// on_tasks for each tasks frame, and sends a keep-alive every 250 ms.
  void serve(std::chrono::milliseconds limit, const std::function<void(const TaskBatch&)>& on_tasks,
             const std::function<bool()>& done = [] { return false; }) {
    const auto until = std::chrono::steady_clock::now() + limit;
    auto next_keep_alive = std::chrono::steady_clock::now();
    std::vector<zmq::message_t> parts;
    while (std::chrono::steady_clock::now() < until && !done()) {
      if (std::chrono::steady_clock::now() >= next_keep_alive) {
        to_ventilator(Credit{0});
        next_keep_alive += std::chrono::milliseconds(250);
      }
      zmq::pollitem_t items[] = {{to_ventilator_.handle(), 0, ZMQ_POLLIN, 0}};
      poll_sockets(items, std::chrono::milliseconds(50));
      while (receive_parts(to_ventilator_, parts) == 1) {
        const Message message = decode(view(parts[0]));
        if (const auto* tasks = std::get_if<TaskBatch>(&message)) on_tasks(*tasks);
      }
    }
  }

  /// Honest results for `tasks` of kind square or sleep, under its leases.
  static ResultBatch honest(const TaskBatch& tasks, const std::string& name) {
    ResultBatch results{tasks.job, name, {}, tasks.leases};
    for (const Task& task : tasks.tasks) {
      const auto* number = std::get_if<std::int64_t>(&task.payload);
      const std::int64_t n = number ? *number : std::stoll(std::get<std::string>(task.payload));
      results.results.push_back(Result{task.id, true, Value{tasks.kind == "square" ? n * n : n}});
    }
    return results;
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t to_ventilator_;
  zmq::socket_t to_sink_;
};

}  // namespace zpipe::testing
