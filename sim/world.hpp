// sim::World: many Processes on one seeded virtual timeline.
//
// One event queue ordered by (virtual time, sequence number) holds every input a process will
// get: its start, frames, write completions, timer wakes, check results, client requests. A
// process's Env calls only enqueue later events (no re-entrancy), so a run is a pure function
// of the seed and of what the test asks of the world. Every random choice (latency, loss, crash
// tearing, client delays, per-process seeds) comes from Rngs forked from the one seed.
//
// Each node has its own Env: a skewed/drifting clock, a network endpoint, a disk (which
// survives crashes), a timer, a scripted check runner, a responder and a logger feeding the
// trace. Crash drops unsynced storage and every input in flight to the node; restart builds a
// fresh Process from the node's factory over the surviving files.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/log.hpp"
#include "core/base/rng.hpp"
#include "core/node/process.hpp"
#include "sim/sim_clock.hpp"
#include "sim/sim_exec.hpp"
#include "sim/sim_network.hpp"
#include "sim/sim_storage.hpp"
#include "sim/trace.hpp"

namespace praetor::sim {

using ProcessFactory = std::function<std::unique_ptr<node::Process>()>;

// Consul's default ports, used as the source port of frames a node sends on each channel.
std::map<node::Channel, std::uint16_t> default_ports();

struct NodeOptions {
  std::string name;  // "n1"; used in the trace and every World call
  std::string datacenter = "dc1";
  std::vector<std::string> addresses;  // IP literals; the first is the source of its frames
  std::map<node::Channel, std::uint16_t> ports = default_ports();
};

struct WorldOptions {
  LogLevel log_level = LogLevel::kDebug;  // process log lines at or above this enter the trace
  Duration sync_write_min = Duration::microseconds(500);
  Duration sync_write_max = Duration::milliseconds(5);
  Duration nosync_write = Duration::microseconds(20);
  CrashMode crash_mode = CrashMode::kRandomPrefix;
  Duration client_latency_min = Duration::microseconds(100);
  Duration client_latency_max = Duration::milliseconds(1);
};

// What a client sees of one request.
struct ClientReply {
  // kRefused: the node was not running when the request arrived, so it had no effect.
  // kLost: the node took the request and then crashed or stopped: it may or may not have acted.
  enum class Status : std::uint8_t { kPending, kAnswered, kRefused, kLost };
  RequestId id;
  std::string node;
  node::HttpRequest request;
  Instant submitted;
  Instant answered;  // when the answer (or the connection error) reached the client
  Status status = Status::kPending;
  node::HttpResponse response;  // kAnswered only
};

class World {
 public:
  explicit World(std::uint64_t seed, WorldOptions options = {});
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Adds a node and schedules its start at now(). Returns its index (also usable via its name).
  std::size_t add_process(NodeOptions options, ProcessFactory factory);
  std::size_t node_count() const;
  std::size_t index_of(std::string_view name) const;
  const std::string& name_of(std::size_t index) const;
  bool is_up(std::string_view name) const;
  // The running process (nullptr while crashed or stopped). Tests downcast to inspect state.
  node::Process* process(std::string_view name);
  template <typename P>
  P* process_as(std::string_view name) {
    return dynamic_cast<P*>(process(name));
  }
  std::uint64_t incarnation(std::string_view name) const;

  // Time. step() runs one event (false when none is left); run_until() runs every event due at or
  // before `deadline` and leaves now() at the deadline.
  Instant now() const { return now_; }
  bool step();
  void run_until(Instant deadline);
  void run_for(Duration d) { run_until(now_ + d); }
  // Runs until `done()` holds (checked after each event) or the deadline passes.
  bool run_until(const std::function<bool()>& done, Instant deadline);
  std::uint64_t events_processed() const { return events_processed_; }
  std::size_t events_pending() const { return queue_.size(); }

  // Faults and knobs.
  void crash(std::string_view name);
  void restart(std::string_view name);
  // Graceful: delivers Process::stop(reason) (SIGINT by default).
  void stop(std::string_view name, node::StopReason reason = node::StopReason::kInterrupt);
  SimNetwork& network() { return network_; }
  SimStorage& storage(std::string_view name);
  SimExec& exec(std::string_view name);
  void set_clock(std::string_view name, const ClockModel& model);
  const ClockModel& clock(std::string_view name) const;
  // Timer wakes fire late by a uniform [0, max] (scheduler noise, GC pauses).
  void set_timer_lateness(std::string_view name, Duration max);
  void set_client_latency(Duration min, Duration max);
  // Corrupts a synced byte on the node's disk (returns the file name, "" when none).
  std::string corrupt_storage(std::string_view name);
  // Runs `action` at `at` as an event of its own (nemeses, scripted tests), traced as `label`.
  void schedule(Instant at, std::string label, std::function<void(World&)> action);

  // Sends a frame as if `from`'s process had sent it (tests, transcripts).
  void inject_frame(std::string_view from, const node::Endpoint& to, node::Channel channel,
                    Bytes payload);

  // Clients. A request reaches the node after a client latency (+ extra_delay); its answer comes
  // back after another. A request in flight to, or parked in, a crashing node is lost.
  RequestId submit(std::string_view name, node::HttpRequest request,
                   Duration extra_delay = Duration::zero());
  const ClientReply* reply(RequestId id) const;
  // Called when an answer or a loss reaches the client (for workloads); not a process input.
  void on_reply(std::function<void(const ClientReply&)> observer) {
    observer_ = std::move(observer);
  }

  Trace& trace() { return trace_; }
  std::uint64_t trace_hash() const { return trace_.hash(); }
  // Process misbehaviour the world noticed (answering a request twice, writing after shutdown).
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  class Host;
  struct Event;

  Host& host(std::string_view name);
  const Host& host(std::string_view name) const;
  void push(Event event);
  void dispatch(Event& event);
  void deliver_to_process(Host& h, Event& event);
  void send_frame(std::size_t from, const node::Endpoint& to, node::Channel channel, Bytes payload);
  void lose_outstanding(Host& h, std::string_view why);
  void answer_client(RequestId id, std::optional<node::HttpResponse> response,
                     ClientReply::Status status = ClientReply::Status::kAnswered);
  void note(std::string_view actor, std::string_view text) { trace_.add(now_, actor, text); }

  WorldOptions options_;
  Rng rng_;         // forks for nodes
  Rng client_rng_;  // client latencies
  SimNetwork network_;
  Trace trace_;
  Instant now_ = Instant::zero();
  std::uint64_t next_seq_ = 0;
  std::uint64_t events_processed_ = 0;
  std::map<std::pair<std::int64_t, std::uint64_t>, std::unique_ptr<Event>> queue_;
  std::vector<std::unique_ptr<Host>> hosts_;
  std::map<std::string, std::size_t, std::less<>> address_to_node_;
  std::map<RequestId, ClientReply> replies_;
  RequestId next_request_{1};
  std::function<void(const ClientReply&)> observer_;
  std::vector<std::string> violations_;
  bool dispatching_ = false;
};

}  // namespace praetor::sim
