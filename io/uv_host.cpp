#include "io/uv_host.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <csignal>
#include <ctime>

namespace praetor::io {

UvHost::UvHost(Logger& logger, HostOptions options)
    : logger_(logger),
      options_(std::move(options)),
      frame_drops_(
          &loop_, [this] { return now(); }, logger_, "agent", "dropped", "frames",
          Duration::milliseconds(limits::kRefusalLogIntervalMs)) {
  int rc = uv_loop_init(&loop_);
  PRAETOR_ASSERT_MSG(rc == 0, "uv_loop_init: {}", rc);
  origin_ns_ = uv_hrtime();
  loop_.data = this;
  // libuv leaves SIGPIPE alone; a write to a connection the peer has reset would otherwise kill
  // the agent instead of failing that one write with EPIPE. (uv_spawn resets it in children.)
  std::signal(SIGPIPE, SIG_IGN);

  http_ = std::make_unique<HttpServer>(&loop_, logger_, options_.http,
                                       [this](RequestId id, node::HttpRequest request) {
                                         post([this, id, r = std::move(request)]() mutable {
                                           process_->on_client_request(id, std::move(r));
                                         });
                                       });
  std::uint64_t seed = options_.seed;
  if (seed == 0) {
    seed = origin_ns_ ^ (static_cast<std::uint64_t>(::getpid()) << 32) ^
           static_cast<std::uint64_t>(wall().unix_ns);
  }
  NetworkOptions network_options = options_.network;
  network_options.clock = [this] { return now(); };
  // Its own stream of jitter, apart from the process's Rng (which the same seed feeds).
  network_options.seed = seed ^ 0x6e6574776f726b00ULL;  // "network"
  network_ = std::make_unique<UvNetwork>(
      &loop_, logger_,
      [this](const node::Endpoint& from, node::Channel channel, Bytes payload) {
        post_frame(from, channel, std::move(payload));
      },
      std::move(network_options));
  auto on_written = [this](Ticket ticket, Result<void> result) {
    post([this, ticket, r = std::move(result)]() mutable {
      process_->on_written(ticket, std::move(r));
    });
  };
  if (options_.data_dir.empty()) {
    storage_ = std::make_unique<MemoryStorage>(on_written);
  } else {
    auto file = std::make_unique<FileStorage>(&loop_, options_.data_dir, on_written);
    file_storage_ = file.get();
    storage_ = std::move(file);
  }
  exec_ = std::make_unique<UvExec>(&loop_, logger_, [this](CheckRunId id, node::ExecResult result) {
    post([this, id, r = std::move(result)]() mutable {
      process_->on_check_result(id, std::move(r));
    });
  });

  uv_idle_init(&loop_, &idle_);
  uv_timer_init(&loop_, &timer_);
  uv_async_init(&loop_, &async_, on_async);
  async_open_ = true;
  idle_.data = timer_.data = async_.data = this;
  if (options_.handle_signals) {
    for (uv_signal_t* s : {&sigint_, &sigterm_, &sighup_}) {
      uv_signal_init(&loop_, s);
      s->data = this;
    }
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    uv_signal_start(&sighup_, on_signal, SIGHUP);
  }

  env_.emplace(node::Env{*this, *network_, *storage_, *this, *exec_, *this, *this, logger_, seed});
}

UvHost::~UvHost() {
  teardown();
  int rc = uv_loop_close(&loop_);
  PRAETOR_ASSERT_MSG(rc == 0, "libuv loop still has open handles at exit: {}", uv_err_name(rc));
}

Result<std::vector<Listener>> UvHost::open() {
  std::vector<Listener> bound;
  for (const auto& l : options_.listeners) {
    auto at = l.channel == node::Channel::kHttp ? http_->listen(l.endpoint)
                                                : network_->listen(l.channel, l.endpoint);
    if (!at) return at.error();
    bound.push_back(Listener{l.channel, *at});
  }
  return bound;
}

void UvHost::start(node::Process& process) {
  PRAETOR_ASSERT_MSG(process_ == nullptr, "a host runs one process");
  process_ = &process;
  process.start(*env_);
}

int UvHost::run() {
  PRAETOR_ASSERT_MSG(process_ != nullptr, "run() before start()");
  if (!stopped_) uv_run(&loop_, UV_RUN_DEFAULT);
  teardown();
  return exit_code_;
}

void UvHost::post(std::function<void()> task) {
  if (stopped_) return;
  tasks_.push_back(std::move(task));
  if (!idle_active_) {
    // An active idle handle makes the loop poll without blocking, so the queue drains on the
    // next iteration.
    uv_idle_start(&idle_, on_idle);
    idle_active_ = true;
  }
}

void UvHost::post_frame(const node::Endpoint& from, node::Channel channel, Bytes payload) {
  if (stopped_) return;
  const std::size_t bytes = payload.size();
  if (queued_frames_ >= options_.max_queued_frames ||
      queued_frame_bytes_ + bytes > options_.max_queued_frame_bytes) {
    frame_drops_.refused(
        fmt::format("dropping {} frame from {}: {} frames ({} bytes) "
                    "wait for the agent",
                    node::channel_name(channel), from, queued_frames_, queued_frame_bytes_));
    return;
  }
  ++queued_frames_;
  queued_frame_bytes_ += bytes;
  post([this, from, channel, bytes, p = std::move(payload)]() mutable {
    PRAETOR_ASSERT(queued_frames_ > 0);
    PRAETOR_ASSERT(queued_frame_bytes_ >= bytes);
    --queued_frames_;
    queued_frame_bytes_ -= bytes;
    process_->on_frame(from, channel, std::move(p));
  });
}

void UvHost::on_idle(uv_idle_t* idle) {
  auto* self = static_cast<UvHost*>(idle->data);
  // Only what was queued before this round runs now; calls queued meanwhile run next round.
  std::deque<std::function<void()>> round;
  round.swap(self->tasks_);
  for (auto& task : round) {
    if (self->stopped_) break;
    task();
  }
  if (self->tasks_.empty() && self->idle_active_) {
    uv_idle_stop(&self->idle_);
    self->idle_active_ = false;
  }
}

Instant UvHost::now() const {
  return Instant::from_ns(static_cast<std::int64_t>(uv_hrtime() - origin_ns_));
}

WallTime UvHost::wall() const {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return WallTime{static_cast<std::int64_t>(ts.tv_sec) * 1000'000'000 + ts.tv_nsec};
}

void UvHost::wake_at(Instant at) {
  wake_at_ = at;
  arm_timer();
}

void UvHost::arm_timer() {
  uv_timer_stop(&timer_);
  if (stopped_ || wake_at_.is_never()) return;
  std::int64_t remaining_ns = (wake_at_ - now()).count_ns();
  // Round up: libuv timers have millisecond resolution and must not fire before `at`.
  std::int64_t ms = remaining_ns <= 0 ? 0 : (remaining_ns + 999'999) / 1000'000;
  uv_update_time(&loop_);
  uv_timer_start(&timer_, on_timer, static_cast<std::uint64_t>(ms), 0);
}

void UvHost::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<UvHost*>(timer->data);
  if (self->stopped_ || self->wake_at_.is_never()) return;
  if (self->now() < self->wake_at_) {
    self->arm_timer();  // the loop's cached time ran ahead of the monotonic clock
    return;
  }
  self->post([self] { self->process_->on_wake(self->now()); });
}

void UvHost::respond(RequestId id, node::HttpResponse response) {
  if (stopped_) return;
  http_->respond(id, std::move(response));
}

void UvHost::shutdown(int exit_code) {
  if (stopped_) return;
  stopped_ = true;
  exit_code_ = exit_code;
  tasks_.clear();
  queued_frames_ = 0;
  queued_frame_bytes_ = 0;
  uv_stop(&loop_);
}

void UvHost::request_reload() {
  if (options_.on_reload) post(options_.on_reload);
}

void UvHost::on_signal(uv_signal_t* signal, int signum) {
  auto* self = static_cast<UvHost*>(signal->data);
  if (self->stopped_) return;
  if (signum == SIGHUP) {
    self->logger_.info("agent", "Caught signal: hangup");
    if (self->options_.on_reload) self->post(self->options_.on_reload);
    return;
  }
  self->logger_.info("agent", "Caught signal: {}", signum == SIGINT ? "interrupt" : "terminated");
  if (++self->stop_signals_ == 1) {
    const auto reason =
        signum == SIGINT ? node::StopReason::kInterrupt : node::StopReason::kTerminate;
    self->post([self, reason] { self->process_->stop(reason); });
    return;
  }
  self->logger_.warn("agent", "Second signal received; forcing shutdown");
  self->shutdown(1);
}

void UvHost::request_shutdown(int exit_code) {
  std::lock_guard<std::mutex> lock(async_mutex_);
  if (!async_open_) return;
  requested_exit_code_.store(exit_code);
  uv_async_send(&async_);
}

void UvHost::on_async(uv_async_t* async) {
  auto* self = static_cast<UvHost*>(async->data);
  self->shutdown(self->requested_exit_code_.load());
}

void UvHost::teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  stopped_ = true;
  tasks_.clear();
  queued_frames_ = 0;
  queued_frame_bytes_ = 0;
  http_->close();
  network_->close();
  exec_->close();
  if (file_storage_ != nullptr) file_storage_->detach();
  auto close = [](auto* handle) {
    auto* h = reinterpret_cast<uv_handle_t*>(handle);
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  };
  frame_drops_.close();  // logs the count of the last interval
  close(&idle_);
  close(&timer_);
  {
    std::lock_guard<std::mutex> lock(async_mutex_);
    async_open_ = false;
    close(&async_);
  }
  if (options_.handle_signals) {
    close(&sigint_);
    close(&sigterm_);
    close(&sighup_);
  }
  // Runs the close callbacks and lets storage writes already queued reach the disk.
  while (uv_run(&loop_, UV_RUN_DEFAULT) != 0) {
  }
  PRAETOR_ASSERT(http_->closed());
  PRAETOR_ASSERT(network_->closed());
  PRAETOR_ASSERT(exec_->closed());
  PRAETOR_ASSERT(file_storage_ == nullptr || file_storage_->idle());
}

}  // namespace praetor::io
