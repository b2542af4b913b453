#include "sim/world.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <utility>

#include "core/base/assert.hpp"
#include "core/node/agent.hpp"

namespace praetor::sim {

std::map<node::Channel, std::uint16_t> default_ports() {
  return {{node::Channel::kRpc, 8300},
          {node::Channel::kGossipLan, 8301},
          {node::Channel::kGossipWan, 8302},
          {node::Channel::kGossipLanStream, 8301},
          {node::Channel::kGossipWanStream, 8302},
          {node::Channel::kDns, 8600},
          {node::Channel::kDnsStream, 8600},
          {node::Channel::kHttp, 8500}};
}

namespace {

std::string render_target(const node::HttpRequest& r) {
  std::string out = r.path;
  char sep = '?';
  for (const auto& [k, v] : r.query) {
    out += sep;
    out += k;
    if (!v.empty()) out += "=" + v;
    sep = '&';
  }
  return out;
}

std::string render_args(const std::vector<std::string>& args) {
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

// A check spec in a trace line: "/bin/check-db --fast", "http GET http://10.0.0.1:8080/health",
// "tcp 10.0.0.1:5432".
std::string render_spec(const node::ExecSpec& spec) {
  switch (spec.kind) {
    case node::ExecSpec::Kind::kHttp:
      return fmt::format("http {} {}", spec.http.method.empty() ? "GET" : spec.http.method,
                         spec.http.url);
    case node::ExecSpec::Kind::kTcp:
      return fmt::format("tcp {}", spec.tcp);
    case node::ExecSpec::Kind::kArgs:
      break;
  }
  return render_args(spec.args);
}

}  // namespace

// One input for one node (or a world-level action), due at `at`.
struct World::Event {
  enum class Kind : std::uint8_t {
    kStart,
    kFrame,
    kWritten,
    kWake,
    kCheck,
    kRequest,
    kStop,
    kShutdown,
    kReply,
    kAction
  };
  Kind kind = Kind::kAction;
  Instant at;
  std::size_t node = 0;
  std::uint64_t incarnation = 0;
  // kFrame
  std::size_t from_node = 0;
  node::Endpoint from;
  node::Channel channel = node::Channel::kRpc;
  Bytes payload;
  // kWritten
  Ticket ticket;
  std::uint64_t batch_id = 0;
  bool sync = false;
  // kWake
  std::uint64_t generation = 0;
  // kCheck
  CheckRunId check;
  node::ExecResult exec_result;
  // kRequest, kReply
  RequestId request;
  node::HttpRequest http;
  std::optional<node::HttpResponse> response;
  // kShutdown
  int exit_code = 0;
  // kStop
  node::StopReason stop_reason = node::StopReason::kInterrupt;
  // kAction
  std::string label;
  std::function<void(World&)> action;
};

// A node: its options, its process (recreated on restart), and the Env implementations that
// turn the process's calls into later events.
class World::Host {
 public:
  enum class State : std::uint8_t { kUp, kDown, kStopped };

  Host(World& world, std::size_t index, NodeOptions options, ProcessFactory factory, Rng rng)
      : world_(world),
        index_(index),
        options_(std::move(options)),
        factory_(std::move(factory)),
        rng_(rng),
        clock_adapter_(*this),
        network_adapter_(*this),
        storage_adapter_(*this),
        timer_adapter_(*this),
        exec_adapter_(*this),
        responder_adapter_(*this),
        control_adapter_(*this),
        logger_adapter_(*this),
        env_{clock_adapter_,   network_adapter_, storage_adapter_,
             timer_adapter_,   exec_adapter_,    responder_adapter_,
             control_adapter_, logger_adapter_,  0} {}

  const std::string& name() const { return options_.name; }

  // Builds a fresh process for a new incarnation and schedules its start.
  void boot() {
    process_ = factory_();
    PRAETOR_ASSERT(process_ != nullptr);
    state_ = State::kUp;
    started_ = false;
    ++incarnation_;
    env_.seed = rng_.next_u64();
    last_write_done_ = world_.now_;
    timer_local_at_ = Instant::never();
    Event e;
    e.kind = Event::Kind::kStart;
    e.at = world_.now_;
    e.node = index_;
    e.incarnation = incarnation_;
    world_.push(std::move(e));
  }

  node::Endpoint source_endpoint(node::Channel channel) const {
    node::Endpoint ep;
    ep.host = options_.addresses.empty() ? "0.0.0.0" : options_.addresses.front();
    auto it = options_.ports.find(channel);
    ep.port = it == options_.ports.end() ? 0 : it->second;
    return ep;
  }

  class ClockAdapter final : public node::Clock {
   public:
    explicit ClockAdapter(Host& h) : h_(h) {}
    Instant now() const override { return h_.clock_.local(h_.world_.now_); }
    WallTime wall() const override { return h_.clock_.wall(h_.world_.now_); }

   private:
    Host& h_;
  };

  class NetworkAdapter final : public node::Network {
   public:
    explicit NetworkAdapter(Host& h) : h_(h) {}
    void send(const node::Endpoint& to, node::Channel channel, Bytes payload) override {
      h_.world_.send_frame(h_.index_, to, channel, std::move(payload));
    }

   private:
    Host& h_;
  };

  class StorageAdapter final : public node::Storage {
   public:
    explicit StorageAdapter(Host& h) : h_(h) {}
    void write(node::WriteBatch batch, Ticket ticket) override { h_.write(batch, ticket); }
    Result<node::StoredFiles> recover() override {
      node::StoredFiles files = h_.storage_.files();
      h_.note(fmt::format("-> recover files={}", files.size()));
      return files;
    }

   private:
    Host& h_;
  };

  class TimerAdapter final : public node::Timer {
   public:
    explicit TimerAdapter(Host& h) : h_(h) {}
    void wake_at(Instant at) override { h_.wake_at(at); }

   private:
    Host& h_;
  };

  class ExecAdapter final : public node::Exec {
   public:
    explicit ExecAdapter(Host& h) : h_(h) {}
    void run(CheckRunId id, node::ExecSpec spec) override {
      SimExec::Resolved r = h_.exec_.resolve(spec);
      h_.note(fmt::format("-> exec id={} {}", id, render_spec(spec)));
      Event e = h_.input(Event::Kind::kCheck, h_.world_.now_ + r.after);
      e.check = id;
      e.exec_result = std::move(r.result);
      h_.world_.push(std::move(e));
    }

   private:
    Host& h_;
  };

  class ResponderAdapter final : public node::Responder {
   public:
    explicit ResponderAdapter(Host& h) : h_(h) {}
    void respond(RequestId id, node::HttpResponse response) override {
      h_.note(fmt::format("-> respond req={} status={} len={}", id, response.status,
                          response.body.size()));
      if (h_.outstanding_.erase(id) == 0) {
        h_.world_.violations_.push_back(
            fmt::format("{}: respond to request {} that is not outstanding", h_.name(), id));
        return;
      }
      World& w = h_.world_;
      Event e;
      e.kind = Event::Kind::kReply;
      e.at = w.now_ +
             w.client_rng_.between(w.options_.client_latency_min, w.options_.client_latency_max);
      e.request = id;
      e.response = std::move(response);
      w.push(std::move(e));
    }

   private:
    Host& h_;
  };

  class ControlAdapter final : public node::Control {
   public:
    explicit ControlAdapter(Host& h) : h_(h) {}
    void shutdown(int exit_code) override {
      h_.note(fmt::format("-> shutdown exit={}", exit_code));
      Event e = h_.input(Event::Kind::kShutdown, h_.world_.now_);
      e.exit_code = exit_code;
      h_.world_.push(std::move(e));
    }
    // The simulator has no configuration files to re-read: an agent is reloaded with the
    // configuration it runs (files that did not change), which answers a waiting PUT
    // /v1/agent/reload. Tests that change the configuration call the agent's reload themselves.
    void request_reload() override {
      h_.note("-> request_reload");
      std::string name = h_.name();
      h_.world_.schedule(h_.world_.now_, "reload " + name, [name](World& w) {
        if (auto* agent = w.process_as<node::Agent>(name)) (void)agent->reload(agent->config());
      });
    }

   private:
    Host& h_;
  };

  class LoggerAdapter final : public Logger {
   public:
    explicit LoggerAdapter(Host& h) : h_(h) {}
    void log(LogLevel level, std::string_view subsystem, std::string_view message) override {
      if (!enabled(level)) return;
      h_.note(fmt::format("log {} {}: {}", log_level_name(level), subsystem, message));
    }
    bool enabled(LogLevel level) const override { return level >= h_.world_.options_.log_level; }

   private:
    Host& h_;
  };

  void note(std::string_view text) { world_.note(name(), text); }

  // An input for this node's current incarnation.
  Event input(Event::Kind kind, Instant at) const {
    Event e;
    e.kind = kind;
    e.at = at;
    e.node = index_;
    e.incarnation = incarnation_;
    return e;
  }

  void write(const node::WriteBatch& batch, Ticket ticket) {
    std::uint64_t id = next_batch_++;
    storage_.apply(batch, id);
    std::size_t bytes = 0;
    for (const auto& op : batch.ops) bytes += op.data.size();
    const WorldOptions& o = world_.options_;
    Duration latency =
        batch.sync ? rng_.between(o.sync_write_min, o.sync_write_max) : o.nosync_write;
    // Completions come back in submission order, as from one disk queue.
    Instant done = std::max(world_.now_ + latency, last_write_done_);
    last_write_done_ = done;
    note(fmt::format("-> write ticket={} ops={} bytes={} {}", ticket, batch.ops.size(), bytes,
                     batch.sync ? "sync" : "nosync"));
    Event e = input(Event::Kind::kWritten, done);
    e.ticket = ticket;
    e.batch_id = id;
    e.sync = batch.sync;
    world_.push(std::move(e));
  }

  void wake_at(Instant at) {
    // Re-arming the same deadline is common (processes re-arm after every input): keep the
    // pending wake instead of queueing and tracing a duplicate.
    if (at == timer_local_at_) return;
    ++timer_generation_;
    timer_local_at_ = at;
    if (at.is_never()) {
      note("-> wake_at never");
      return;
    }
    Instant global = std::max(clock_.global_for(at), world_.now_);
    if (timer_lateness_ > Duration::zero()) {
      global = global + rng_.between(Duration::zero(), timer_lateness_);
    }
    note(fmt::format("-> wake_at {}", at));
    Event e = input(Event::Kind::kWake, global);
    e.generation = timer_generation_;
    world_.push(std::move(e));
  }

  World& world_;
  std::size_t index_;
  NodeOptions options_;
  ProcessFactory factory_;
  Rng rng_;
  std::unique_ptr<node::Process> process_;
  State state_ = State::kDown;
  bool started_ = false;
  std::uint64_t incarnation_ = 0;
  SimStorage storage_;
  SimExec exec_;
  ClockModel clock_;
  Duration timer_lateness_ = Duration::zero();
  std::uint64_t timer_generation_ = 0;
  Instant timer_local_at_ = Instant::never();
  std::uint64_t next_batch_ = 1;
  Instant last_write_done_;
  std::set<RequestId> outstanding_;

  ClockAdapter clock_adapter_;
  NetworkAdapter network_adapter_;
  StorageAdapter storage_adapter_;
  TimerAdapter timer_adapter_;
  ExecAdapter exec_adapter_;
  ResponderAdapter responder_adapter_;
  ControlAdapter control_adapter_;
  LoggerAdapter logger_adapter_;
  node::Env env_;
};

World::World(std::uint64_t seed, WorldOptions options)
    : options_(options), rng_(seed), client_rng_(rng_.fork()), network_(rng_.fork()) {}

World::~World() = default;

std::size_t World::add_process(NodeOptions options, ProcessFactory factory) {
  std::size_t index = network_.add_node(options.name, options.datacenter);
  PRAETOR_ASSERT(index == hosts_.size());
  for (const auto& addr : options.addresses) {
    auto [it, inserted] = address_to_node_.emplace(addr, index);
    PRAETOR_ASSERT_MSG(inserted, "address {} used twice", addr);
  }
  hosts_.push_back(
      std::make_unique<Host>(*this, index, std::move(options), std::move(factory), rng_.fork()));
  note(hosts_.back()->name(), "added");
  hosts_.back()->boot();
  return index;
}

std::size_t World::node_count() const { return hosts_.size(); }
std::size_t World::index_of(std::string_view name) const { return network_.index_of(name); }
const std::string& World::name_of(std::size_t index) const { return hosts_.at(index)->name(); }
World::Host& World::host(std::string_view name) { return *hosts_[index_of(name)]; }
const World::Host& World::host(std::string_view name) const { return *hosts_[index_of(name)]; }

bool World::is_up(std::string_view name) const { return host(name).state_ == Host::State::kUp; }

node::Process* World::process(std::string_view name) { return host(name).process_.get(); }
std::uint64_t World::incarnation(std::string_view name) const { return host(name).incarnation_; }
SimStorage& World::storage(std::string_view name) { return host(name).storage_; }
SimExec& World::exec(std::string_view name) { return host(name).exec_; }
void World::set_clock(std::string_view name, const ClockModel& model) {
  // Changing offset/drift mid-run could move a monotonic clock backwards; only do it before the
  // node reads its clock, or change wall_skew alone.
  host(name).clock_ = model;
}
const ClockModel& World::clock(std::string_view name) const { return host(name).clock_; }
void World::set_timer_lateness(std::string_view name, Duration max) {
  host(name).timer_lateness_ = max;
}
void World::set_client_latency(Duration min, Duration max) {
  PRAETOR_ASSERT(min <= max);
  options_.client_latency_min = min;
  options_.client_latency_max = max;
}

std::string World::corrupt_storage(std::string_view name) {
  Host& h = host(name);
  std::string file = h.storage_.corrupt_random_byte(h.rng_);
  note(name, fmt::format("storage corrupted: {}", file.empty() ? "(nothing)" : file));
  return file;
}

void World::push(Event event) {
  PRAETOR_ASSERT(event.at >= now_);
  auto key = std::make_pair(event.at.ns(), next_seq_++);
  queue_.emplace(key, std::make_unique<Event>(std::move(event)));
}

void World::schedule(Instant at, std::string label, std::function<void(World&)> action) {
  Event e;
  e.kind = Event::Kind::kAction;
  e.at = std::max(at, now_);
  e.label = std::move(label);
  e.action = std::move(action);
  push(std::move(e));
}

bool World::step() {
  if (queue_.empty()) return false;
  auto it = queue_.begin();
  std::unique_ptr<Event> event = std::move(it->second);
  queue_.erase(it);
  now_ = event->at;
  ++events_processed_;
  dispatch(*event);
  return true;
}

void World::run_until(Instant deadline) {
  while (!queue_.empty() && queue_.begin()->first.first <= deadline.ns()) step();
  now_ = std::max(now_, deadline);
}

bool World::run_until(const std::function<bool()>& done, Instant deadline) {
  while (!done()) {
    if (queue_.empty() || queue_.begin()->first.first > deadline.ns()) {
      now_ = std::max(now_, deadline);
      return done();
    }
    step();
  }
  return true;
}

void World::dispatch(Event& e) {
  switch (e.kind) {
    case Event::Kind::kAction:
      note("nemesis", e.label);
      e.action(*this);
      return;
    case Event::Kind::kReply:
      answer_client(e.request, std::move(e.response));
      return;
    case Event::Kind::kRequest: {
      Host& h = *hosts_[e.node];
      std::string line =
          fmt::format("<- request req={} {} {}", e.request, e.http.method, render_target(e.http));
      if (h.state_ != Host::State::kUp || !h.started_) {
        note(h.name(), line + " refused (down)");
        answer_client(e.request, std::nullopt, ClientReply::Status::kRefused);
        return;
      }
      note(h.name(), line);
      h.outstanding_.insert(e.request);
      dispatching_ = true;
      h.process_->on_client_request(e.request, std::move(e.http));
      dispatching_ = false;
      return;
    }
    default:
      deliver_to_process(*hosts_[e.node], e);
  }
}

void World::deliver_to_process(Host& h, Event& e) {
  bool current = h.state_ == Host::State::kUp && e.incarnation == h.incarnation_ &&
                 (h.started_ || e.kind == Event::Kind::kStart);
  if (!current) {
    if (e.kind == Event::Kind::kFrame) {
      note(h.name(),
           fmt::format("<- frame {} from {} len={} dropped (down)", node::channel_name(e.channel),
                       name_of(e.from_node), e.payload.size()));
    }
    return;
  }
  node::Process& p = *h.process_;
  dispatching_ = true;
  switch (e.kind) {
    case Event::Kind::kStart:
      h.started_ = true;
      note(h.name(), fmt::format("<- start incarnation={}", h.incarnation_));
      p.start(h.env_);
      break;
    case Event::Kind::kFrame:
      if (!network_.deliverable(e.from_node, e.node)) {
        note("net",
             fmt::format("drop {}->{} {} len={} (partition, in flight)", name_of(e.from_node),
                         h.name(), node::channel_name(e.channel), e.payload.size()));
        break;
      }
      note(h.name(), fmt::format("<- frame {} from {} len={}", node::channel_name(e.channel),
                                 name_of(e.from_node), e.payload.size()));
      p.on_frame(e.from, e.channel, std::move(e.payload));
      break;
    case Event::Kind::kWritten:
      if (e.sync) h.storage_.sync_through(e.batch_id);
      note(h.name(), fmt::format("<- written ticket={} ok", e.ticket));
      p.on_written(e.ticket, ok());
      break;
    case Event::Kind::kWake:
      if (e.generation != h.timer_generation_) break;  // re-armed or cancelled since
      h.timer_local_at_ = Instant::never();
      note(h.name(), "<- wake");
      p.on_wake(h.clock_.local(now_));
      break;
    case Event::Kind::kCheck:
      note(h.name(), fmt::format("<- check id={} exit={}{}", e.check, e.exec_result.exit_code,
                                 e.exec_result.timed_out ? " timed-out" : ""));
      p.on_check_result(e.check, std::move(e.exec_result));
      break;
    case Event::Kind::kStop:
      note(h.name(), fmt::format("<- stop reason={}", static_cast<int>(e.stop_reason)));
      p.stop(e.stop_reason);
      break;
    case Event::Kind::kShutdown:
      dispatching_ = false;
      note(h.name(), fmt::format("stopped exit={}", e.exit_code));
      h.process_.reset();
      h.state_ = Host::State::kStopped;
      lose_outstanding(h, "shutdown");
      break;
    default:
      PRAETOR_UNREACHABLE();
  }
  dispatching_ = false;
}

void World::send_frame(std::size_t from, const node::Endpoint& to, node::Channel channel,
                       Bytes payload) {
  const std::string& from_name = name_of(from);
  auto it = address_to_node_.find(to.host);
  if (it == address_to_node_.end()) {
    note(from_name, fmt::format("-> send {} to {} len={} (no route)", node::channel_name(channel),
                                to, payload.size()));
    return;
  }
  std::size_t dst = it->second;
  note(from_name, fmt::format("-> send {} to {} len={}", node::channel_name(channel), name_of(dst),
                              payload.size()));
  SimNetwork::Fate fate = network_.route(from, dst, now_);
  if (fate.deliveries.empty()) {
    note("net", fmt::format("drop {}->{} {} len={} ({})", from_name, name_of(dst),
                            node::channel_name(channel), payload.size(), fate.dropped));
    return;
  }
  if (fate.deliveries.size() > 1) {
    note("net", fmt::format("duplicate {}->{} {} len={}", from_name, name_of(dst),
                            node::channel_name(channel), payload.size()));
  }
  for (std::size_t i = 0; i < fate.deliveries.size(); ++i) {
    Event e = hosts_[dst]->input(Event::Kind::kFrame, fate.deliveries[i]);
    e.from_node = from;
    e.from = hosts_[from]->source_endpoint(channel);
    e.channel = channel;
    e.payload = i + 1 == fate.deliveries.size() ? std::move(payload) : payload;
    push(std::move(e));
  }
}

void World::inject_frame(std::string_view from, const node::Endpoint& to, node::Channel channel,
                         Bytes payload) {
  send_frame(index_of(from), to, channel, std::move(payload));
}

void World::crash(std::string_view name) {
  PRAETOR_ASSERT_MSG(!dispatching_, "crash from inside a process call");
  Host& h = host(name);
  if (h.state_ != Host::State::kUp) {
    note(name, "crash ignored (not running)");
    return;
  }
  h.process_.reset();
  h.state_ = Host::State::kDown;
  h.started_ = false;
  ++h.timer_generation_;  // the pending wake belongs to the dead process
  CrashReport r = h.storage_.crash(h.rng_, options_.crash_mode);
  note(name, fmt::format("crash unsynced={} kept={}{}", r.pending, r.kept, r.torn ? " torn" : ""));
  lose_outstanding(h, "crash");
}

void World::restart(std::string_view name) {
  PRAETOR_ASSERT_MSG(!dispatching_, "restart from inside a process call");
  Host& h = host(name);
  if (h.state_ == Host::State::kUp) {
    note(name, "restart ignored (running)");
    return;
  }
  note(name, "restart");
  h.boot();
}

void World::stop(std::string_view name, node::StopReason reason) {
  Host& h = host(name);
  Event e = h.input(Event::Kind::kStop, now_);
  e.stop_reason = reason;
  push(std::move(e));
}

void World::lose_outstanding(Host& h, std::string_view why) {
  std::set<RequestId> lost;
  lost.swap(h.outstanding_);
  for (RequestId id : lost) {
    note(h.name(), fmt::format("request req={} lost ({})", id, why));
    answer_client(id, std::nullopt, ClientReply::Status::kLost);
  }
}

RequestId World::submit(std::string_view name, node::HttpRequest request, Duration extra_delay) {
  RequestId id = next_request_;
  next_request_ = next_request_.next();
  if (request.raw_path.empty()) request.raw_path = request.path;
  if (request.remote.empty()) {
    request.remote = fmt::format("127.0.0.1:{}", 49152 + id.value() % 16384);
  }
  ClientReply& r = replies_[id];
  r.id = id;
  r.node = std::string(name);
  r.request = request;
  r.submitted = now_;
  Event e;
  e.kind = Event::Kind::kRequest;
  e.node = index_of(name);
  e.at = now_ + extra_delay +
         client_rng_.between(options_.client_latency_min, options_.client_latency_max);
  e.request = id;
  e.http = std::move(request);
  note("client",
       fmt::format("submit req={} to {} {} {}", id, name, e.http.method, render_target(e.http)));
  push(std::move(e));
  return id;
}

const ClientReply* World::reply(RequestId id) const {
  auto it = replies_.find(id);
  return it == replies_.end() ? nullptr : &it->second;
}

void World::answer_client(RequestId id, std::optional<node::HttpResponse> response,
                          ClientReply::Status status) {
  auto it = replies_.find(id);
  PRAETOR_ASSERT(it != replies_.end());
  ClientReply& r = it->second;
  if (r.status != ClientReply::Status::kPending) return;
  r.answered = now_;
  if (response) {
    r.status = ClientReply::Status::kAnswered;
    r.response = std::move(*response);
    note("client", fmt::format("reply req={} status={} body={}", id, r.response.status,
                               r.response.body.size() <= 64 ? r.response.body
                                                            : r.response.body.substr(0, 64)));
  } else {
    PRAETOR_ASSERT(status != ClientReply::Status::kAnswered);
    r.status = status;
    note("client", fmt::format("reply req={} {}", id,
                               status == ClientReply::Status::kRefused ? "refused" : "lost"));
  }
  if (observer_) observer_(r);
}

}  // namespace praetor::sim
