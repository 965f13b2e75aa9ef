// zpipe._engine: the C++ ventilator and sink run in-process for Python's
// zpipe.Job (python/zpipe/job.py). Each role runs run_ventilator / run_sink
// on a thread of its own, which never touches Python: tasks come from a
// Feed that Python fills (TaskSource), results leave through the sink's
// on_output as msgpack records into a buffer that Python takes. Every call
// that waits releases the GIL, and wakes every 100 ms to let Python handle
// signals (Ctrl-C).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "feed.hpp"
#include "zpipe/codec.hpp"
#include "zpipe/sink.hpp"
#include "zpipe/task_source.hpp"
#include "zpipe/value.hpp"
#include "zpipe/ventilator.hpp"

namespace py = pybind11;

namespace {

using zpipe_python::Feed;
using zpipe_python::FeedSource;

using namespace std::chrono_literals;

constexpr auto bind_wait = 10s;

zpipe::Value to_value(const py::handle& object) {
  if (object.is_none()) return zpipe::Value{};
  if (PyBool_Check(object.ptr())) throw py::type_error("a bool is not a zpipe payload (use an int or a str)");
  if (PyLong_Check(object.ptr())) {
    int overflow = 0;
    const long long n = PyLong_AsLongLongAndOverflow(object.ptr(), &overflow);
    if (overflow != 0) throw py::value_error("payload outside the 64-bit integer range");
    return zpipe::Value{static_cast<std::int64_t>(n)};
  }
  if (PyUnicode_Check(object.ptr())) {
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(object.ptr(), &size);
    if (text == nullptr) throw py::error_already_set();
    return zpipe::Value{std::string(text, static_cast<std::size_t>(size))};
  }
  if (PyBytes_Check(object.ptr())) return zpipe::Value{std::string(py::bytes(object.cast<py::bytes>()))};
  throw py::type_error(std::string("a ") + Py_TYPE(object.ptr())->tp_name +
                       " is not a zpipe payload (int, str, bytes or None)");
}

// A role on a thread of its own; its exit status or what it threw.
struct Role {
  std::thread thread;
  std::promise<std::string> bound;
  std::future<std::string> bound_future = bound.get_future();
  std::mutex mutex;
  std::condition_variable done;
  std::optional<int> status;
  std::string error;

  std::function<void()> on_end;  // told once the role has ended, on its thread

  /// Waits until the role has ended or `until`; true when it has (or never started).
  bool wait_until(std::chrono::steady_clock::time_point until) {
    if (!thread.joinable()) return true;
    std::unique_lock lock(mutex);
    return done.wait_until(lock, until, [&] { return status.has_value(); });
  }

  template <class Run>
  void start(Run run) {
    thread = std::thread([this, run] {
      int code = 3;
      std::string what;
      try {
        code = run();
      } catch (const std::exception& e) {
        what = e.what();
      }
      try {
        bound.set_exception(std::make_exception_ptr(std::runtime_error(what.empty() ? "ended" : what)));
      } catch (const std::future_error&) {  // it had bound
      }
      {
        std::lock_guard lock(mutex);
        status = code;
        error = what;
      }
      done.notify_all();
      if (on_end) on_end();
    });
  }
  std::optional<int> finished() {
    std::lock_guard lock(mutex);
    return status;
  }
};

class Engine {
 public:
  Engine(std::string kind, std::string bind, std::string sink_bind, std::uint32_t min_workers, std::uint32_t batch,
         std::uint64_t max_in_flight, std::optional<std::uint64_t> job_id, std::uint32_t worker_timeout_ms,
         std::uint32_t max_attempts, std::string journal, bool resume, std::string curve_secret,
         std::string allow_keys)
      : feed_(std::make_shared<Feed>(kind)) {
    sink_.bind = std::move(sink_bind);
    sink_.format = zpipe::OutputFormat::msgpack;
    sink_.progress = zpipe::ProgressMode::never;
    sink_.journal = std::move(journal);
    sink_.stop_requests = [this] { return sink_stops_.load(); };
    sink_.on_output = [this](std::string_view records) {
      {
        std::lock_guard lock(output_mutex_);
        output_.append(records);
      }
      output_ready_.notify_one();
    };
    ventilator_.bind = std::move(bind);
    ventilator_.kind = std::move(kind);
    ventilator_.batch = batch;
    ventilator_.min_workers = min_workers;
    ventilator_.max_in_flight = max_in_flight;
    ventilator_.job_id = job_id;
    ventilator_.worker_timeout = std::chrono::milliseconds(worker_timeout_ms);
    ventilator_.max_attempts = max_attempts;
    ventilator_.resume = resume;
    ventilator_.stop_requests = [this] { return ventilator_stops_.load(); };
    ventilator_.make_source = [feed = feed_] { return std::make_unique<FeedSource>(feed); };
    if (!curve_secret.empty()) {
      // Both servers take the same key pair and admit the workers of
      // allow_keys; the ventilator is the sink's client with that same key,
      // admitted by the sink as its ventilator.
      sink_.curve.own = zpipe::read_secret_key_file(curve_secret, "curve_secret");
      ventilator_.curve = sink_.curve;
      ventilator_.curve.allow = {{allow_keys, zpipe::Role::worker, "allow_keys", {}, {}}};
      sink_.curve.allow = ventilator_.curve.allow;
      sink_.curve.allow.push_back(
          {{}, zpipe::Role::ventilator, "curve_secret", *zpipe::decode_z85_key(sink_.curve.own->public_key), "submitter"});
      ventilator_.sink_key = sink_.curve.own->public_key;
    }
  }

  ~Engine() {
    py::gil_scoped_release release;
    feed_->abandon();
    // Whatever still runs is stopped at once (a second request), as Python
    // is done with the job.
    ventilator_stops_ += 2;
    if (ventilator_role_.thread.joinable()) ventilator_role_.thread.join();
    sink_stops_ += 2;
    if (sink_role_.thread.joinable()) sink_role_.thread.join();
  }

  std::string start_sink() {
    sink_role_.on_end = [this] {
      { std::lock_guard lock(output_mutex_); }
      output_ready_.notify_all();
    };
    sink_.on_bound = [this](const std::string& endpoint) { sink_role_.bound.set_value(endpoint); };
    sink_role_.start([this] { return zpipe::run_sink(sink_); });
    sink_endpoint_ = wait_bound(sink_role_, "the sink");
    ventilator_.sink = sink_endpoint_;
    return sink_endpoint_;
  }

  std::string start_ventilator() {
    ventilator_.on_bound = [this](const std::string& endpoint) { ventilator_role_.bound.set_value(endpoint); };
    ventilator_role_.start([this] {
      const int status = zpipe::run_ventilator(ventilator_);
      feed_->abandon();  // a submit still waiting for room would wait for ever
      return status;
    });
    return wait_bound(ventilator_role_, "the ventilator");
  }

  /// Queues payloads for the ventilator, waiting (GIL released) while the
  /// queue is full. Returns how many were queued.
  std::size_t push(const py::iterable& payloads) {
    std::vector<zpipe::Value> values;
    for (const auto& payload : payloads) values.push_back(to_value(payload));
    std::size_t from = 0;
    while (from < values.size()) {
      {
        py::gil_scoped_release release;
        from += feed_->push(values, from);
        if (from < values.size()) feed_->wait_for_room(100ms);
      }
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (ventilator_finished() && from < values.size())
        throw std::runtime_error("the ventilator has ended; it takes no more tasks");
    }
    return values.size();
  }

  void close() { feed_->close(); }
  /// The job's fingerprint (PROTOCOL.md §5.1, a job of values), once closed.
  std::optional<std::string> fingerprint() const { return feed_->fingerprint(); }
  bool closed() const { return feed_->closed(); }

  /// Result records (msgpack) gathered since the last call; waits up to
  /// `timeout` seconds for some. Returns None once the sink has ended and
  /// every record was taken.
  py::object take(double timeout) {
    std::string records;
    bool over = false;
    {
      py::gil_scoped_release release;
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout));
      std::unique_lock lock(output_mutex_);
      while (output_.empty()) {
        if (sink_role_.finished()) {
          over = true;
          break;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= until) break;
        output_ready_.wait_for(lock, std::min<std::chrono::steady_clock::duration>(until - now, 100ms));
      }
      records.swap(output_);
    }
    if (over && records.empty()) return py::none();
    return py::bytes(records);
  }

  /// Asks both roles to stop, as Ctrl-C does: the job is cancelled.
  void cancel() { ++ventilator_stops_; }
  /// Stops the sink (a job whose ventilator gave up: the sink waits for a
  /// job_end that will never come).
  void stop_sink() { ++sink_stops_; }

  /// Waits up to `timeout` s for both roles to end; returns
  /// (sink status, sink error, ventilator status, ventilator error), None for one still running.
  py::tuple wait(double timeout) {
    {
      py::gil_scoped_release release;
      const auto until = std::chrono::steady_clock::now() +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeout));
      if (sink_role_.wait_until(until)) ventilator_role_.wait_until(until);
    }
    auto pair = [](Role& role) -> std::pair<py::object, std::string> {
      std::lock_guard lock(role.mutex);
      if (!role.status) return {py::none(), ""};
      return {py::int_(*role.status), role.error};
    };
    auto [sink_status, sink_error] = pair(sink_role_);
    auto [vent_status, vent_error] = pair(ventilator_role_);
    return py::make_tuple(sink_status, sink_error, vent_status, vent_error);
  }

 private:
  bool ventilator_finished() { return ventilator_role_.thread.joinable() && ventilator_role_.finished().has_value(); }

  std::string wait_bound(Role& role, const char* what) {
    std::future_status ready{};
    {
      py::gil_scoped_release release;
      ready = role.bound_future.wait_for(bind_wait);
    }
    if (ready != std::future_status::ready) throw std::runtime_error(std::string(what) + " did not listen within 10 s");
    try {
      return role.bound_future.get();
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(what) + " could not start: " + e.what());
    }
  }

  std::shared_ptr<Feed> feed_;
  zpipe::SinkConfig sink_;
  zpipe::VentilatorConfig ventilator_;
  std::string sink_endpoint_;
  Role sink_role_;
  Role ventilator_role_;
  std::mutex output_mutex_;
  std::condition_variable output_ready_;
  std::string output_;
  std::atomic<int> ventilator_stops_{0};
  std::atomic<int> sink_stops_{0};
};

}  // namespace

PYBIND11_MODULE(_engine, m) {
  m.doc() = "zpipe's C++ ventilator and sink, in-process, for zpipe.Job (see python/zpipe/job.py)";
  py::class_<Engine>(m, "Engine")
      .def(py::init<std::string, std::string, std::string, std::uint32_t, std::uint32_t, std::uint64_t,
                    std::optional<std::uint64_t>, std::uint32_t, std::uint32_t, std::string, bool, std::string,
                    std::string>(),
           py::arg("kind"), py::arg("bind"), py::arg("sink_bind"), py::arg("min_workers"), py::arg("batch"),
           py::arg("max_in_flight"), py::arg("job_id"), py::arg("worker_timeout_ms"), py::arg("max_attempts"),
           py::arg("journal"), py::arg("resume"), py::arg("curve_secret"), py::arg("allow_keys"))
      .def("start_sink", &Engine::start_sink)
      .def("start_ventilator", &Engine::start_ventilator)
      .def("push", &Engine::push)
      .def("close", &Engine::close)
      .def("closed", &Engine::closed)
      .def("fingerprint", &Engine::fingerprint)
      .def("take", &Engine::take, py::arg("timeout"))
      .def("cancel", &Engine::cancel)
      .def("stop_sink", &Engine::stop_sink)
      .def("wait", &Engine::wait, py::arg("timeout"));
}
