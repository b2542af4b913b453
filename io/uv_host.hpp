// UvHost: runs one node::Process on one libuv loop and implements every Env interface for it.
//
//   UvHost host(logger, options);
//   auto bound = host.open();  // binds the listeners; fails on a port in use
//   host.start(process);       // process.start(host.env())
//   int code = host.run();     // until Control::shutdown or a second SIGINT/SIGTERM
//
// No re-entrancy: every completion (a request, a frame, a write made durable, a timer, a check
// result, a signal) is queued and delivered from the loop as its own Process call, never from
// inside an Env call. After shutdown() nothing more is delivered; run() closes every handle,
// lets queued storage writes finish, and returns the exit code.
//
// The task queue is bounded where loss is allowed. The loop drains it whole on every iteration,
// so it grows only with what one iteration reads; what can be read is: frames (RPC, gossip
// streams, gossip and DNS datagrams), HTTP requests, storage completions, check results, timer
// wakes, signals and reloads. Frames are best effort end to end (Raft retransmits, SWIM probes
// again, DNS clients retry), so post_frame() drops a frame beyond max_queued_frames frames or
// max_queued_frame_bytes bytes waiting, counts it and logs at most once a second. Everything else
// goes through post() and is never dropped: a lost storage completion would stall the Raft
// Ready loop for good (and D6 acknowledges writes only after it), a lost wake would stop the
// process's timers, a lost request would leave its client waiting. Those are bounded at their
// source instead: requests by HttpLimits::max_pending_requests (answered 503 at the cap, not
// queued), completions by the writes and checks the process itself started, wakes by the one
// host timer. (decisions.md D20.)
#pragma once

#include <uv.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/base/log.hpp"
#include "core/node/env.hpp"
#include "core/node/process.hpp"
#include "io/http_request_parser.hpp"
#include "io/http_server.hpp"
#include "io/timed_refusal_log.hpp"
#include "io/uv_exec.hpp"
#include "io/uv_network.hpp"
#include "io/uv_storage.hpp"

namespace praetor::io {

// A socket to open: Channel::kHttp for the HTTP API; kRpc (server RPC), kGossipLanStream and
// kGossipWanStream (push/pull) for TCP listeners of framed streams; kGossipLan, kGossipWan and
// kDns for UDP. A gossip UDP socket and its stream listener may share a port number.
struct Listener {
  node::Channel channel = node::Channel::kHttp;
  node::Endpoint endpoint;
  friend bool operator==(const Listener&, const Listener&) = default;
};

struct HostOptions {
  std::string data_dir;  // empty: in-memory storage (dev mode)
  std::vector<Listener> listeners;
  HttpLimits http;
  // Connection caps, timeouts and backoff. The host sets `clock` (its own) and `seed` (derived
  // from `seed` below) itself.
  NetworkOptions network;
  // Frames waiting in the task queue for the process; beyond either bound they are dropped.
  std::size_t max_queued_frames = limits::kHostMaxQueuedFrames;
  std::size_t max_queued_frame_bytes = limits::kHostMaxQueuedFrameBytes;
  std::uint64_t seed = 0;      // 0: derived from the clock and the pid
  bool handle_signals = true;  // SIGINT/SIGTERM -> Process::stop, SIGHUP -> on_reload
  // SIGHUP and Control::request_reload: re-read the configuration and hand it to the process.
  // Runs on the loop, between Process calls.
  std::function<void()> on_reload;
};

class UvHost final : public node::Clock,
                     public node::Timer,
                     public node::Responder,
                     public node::Control {
 public:
  UvHost(Logger& logger, HostOptions options);
  ~UvHost() override;
  UvHost(const UvHost&) = delete;
  UvHost& operator=(const UvHost&) = delete;

  // Binds every listener in order; returns them with the bound addresses (ephemeral ports
  // resolved). The first failure (address in use, bad address) is returned as is.
  Result<std::vector<Listener>> open();
  // Hands the process its Env: process.start(env()).
  void start(node::Process& process);
  // Runs the loop until shutdown; returns the exit code given to Control::shutdown.
  int run();

  node::Env& env() { return *env_; }
  uv_loop_t* loop() { return &loop_; }
  HttpServer& http() { return *http_; }
  UvNetwork& network() { return *network_; }
  bool stopped() const { return stopped_; }

  // Loop thread only: runs `task` later, as its own step (never inside the current call). Never
  // dropped (before shutdown).
  void post(std::function<void()> task);
  // Loop thread only: delivers a received frame later as process.on_frame(), unless the queue
  // already holds the bound of frames, in which case it is dropped and counted.
  void post_frame(const node::Endpoint& from, node::Channel channel, Bytes payload);
  std::uint64_t frames_dropped() const { return frame_drops_.log().refused_total(); }
  // Any thread: asks the loop to shut down with `exit_code` (tests, embedding).
  void request_shutdown(int exit_code);

  // node::Clock
  Instant now() const override;
  WallTime wall() const override;
  // node::Timer
  void wake_at(Instant at) override;
  // node::Responder
  void respond(RequestId id, node::HttpResponse response) override;
  // node::Control
  void shutdown(int exit_code) override;
  // PUT /v1/agent/reload: runs on_reload later, like SIGHUP.
  void request_reload() override;

 private:
  static void on_idle(uv_idle_t* idle);
  static void on_timer(uv_timer_t* timer);
  static void on_signal(uv_signal_t* signal, int signum);
  static void on_async(uv_async_t* async);
  void arm_timer();
  void teardown();

  Logger& logger_;
  HostOptions options_;
  uv_loop_t loop_{};
  std::uint64_t origin_ns_ = 0;
  node::Process* process_ = nullptr;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<UvNetwork> network_;
  std::unique_ptr<node::Storage> storage_;
  FileStorage* file_storage_ = nullptr;  // storage_ when it is on disk
  std::unique_ptr<UvExec> exec_;
  std::optional<node::Env> env_;

  uv_idle_t idle_{};
  uv_timer_t timer_{};
  uv_async_t async_{};
  uv_signal_t sigint_{};
  uv_signal_t sigterm_{};
  uv_signal_t sighup_{};
  std::deque<std::function<void()>> tasks_;
  bool idle_active_ = false;
  std::size_t queued_frames_ = 0;       // frames in tasks_ (and in the round being run)
  std::size_t queued_frame_bytes_ = 0;  // ... their payload bytes
  TimedRefusalLog frame_drops_;
  Instant wake_at_ = Instant::never();
  int stop_signals_ = 0;
  bool stopped_ = false;
  bool torn_down_ = false;
  int exit_code_ = 0;

  std::mutex async_mutex_;  // request_shutdown() may race with teardown closing async_
  bool async_open_ = false;
  std::atomic<int> requested_exit_code_{0};
};

}  // namespace praetor::io
