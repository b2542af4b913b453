// `praetor lock [options] PREFIX CHILD...`: Consul's lock command. Creates a session (TTL 15s,
// renewed every half TTL), acquires PREFIX/.lock (with -n=1: Consul's leader-election lock;
// with -n>1: Consul's semaphore, a contender key PREFIX/<session> per holder and PREFIX/.lock
// holding {"Limit":N,"Holders":{...}}), runs CHILD while it is held, and stops the child (SIGTERM,
// SIGKILL after 5 s) when the lock is lost or on SIGINT/SIGTERM. Then it releases the lock,
// destroys the session and removes PREFIX/.lock if nobody else uses it. The key layout, flags
// values and session settings are Consul's, so praetor and consul processes can share a lock.
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "cmd/praetor/cli_support.hpp"
#include "cmd/praetor/commands.hpp"
#include "core/base/bytes.hpp"
#include "core/base/duration.hpp"

namespace praetor::cmd {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kLockSynopsis = "praetor lock [options] prefix child...";

// Consul's magic KV flags: they mark a key as a lock or a semaphore, so that one cannot be taken
// for the other, and must match for praetor and consul to share a lock.
constexpr std::uint64_t kLockFlagValue = 0x2ddccbc058a50c18ULL;
constexpr std::uint64_t kSemaphoreFlagValue = 0xe0f69a2baa414de0ULL;
constexpr std::string_view kSessionTtl = "15s";
constexpr milliseconds kSessionTtlMs{15'000};
// A blocking read while waiting for the lock (Consul's DefaultLockWaitTime), and the pause
// after an acquisition refused with nobody holding the key: a lock-delay is running.
constexpr milliseconds kLockWait{15'000};
constexpr milliseconds kLockRetry{5'000};
constexpr milliseconds kMonitorRetryTime{1'000};
// Between SIGTERM and SIGKILL for a child whose lock is gone. Short against the default 15 s
// lock-delay, so the child is gone before another holder may start (Consul's value).
constexpr milliseconds kKillGrace{5'000};
// Monitors send no wait: the agent holds them up to 5 minutes plus jitter.
constexpr int kBlockingTimeoutMs = (300 + 300 / 16 + 30) * 1000;

struct Options {
  std::int64_t limit = 1;
  std::int64_t monitor_retry = 3;
  std::string name;
  bool pass_stdin = false, shell = true, verbose = false, child_exit_code = false;
  Duration timeout = Duration::zero();
};

struct KvPair {
  std::string key, session, value;
  std::uint64_t flags = 0, modify_index = 0;
};

KvPair decode_pair(const Json& e) {
  KvPair p;
  p.key = json_string(e, "Key");
  p.session = json_string(e, "Session");
  p.flags = json_uint(e, "Flags");
  p.modify_index = json_uint(e, "ModifyIndex");
  if (const auto v = e.find("Value"); v != e.end() && v->is_string()) {
    Bytes raw;
    if (base64_decode(v->get<std::string>(), raw)) p.value = to_string(raw);
  }
  return p;
}

// Consul's path.Join(prefix, name) for the keys it derives from the prefix.
std::string join_key(std::string prefix, std::string_view name) {
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
}

// Whether Consul's lock monitor rides this error out: a 5xx from the servers or a failed
// connection (the agent restarting), not a 4xx and not our own cancellation.
bool retryable(const Error& e) {
  return e.message != kHttpCancelled && (e.code == ErrorCode::kUnavailable ||
                                         e.code == ErrorCode::kIo || e.code == ErrorCode::kTimeout);
}

Error answer_error(const HttpResponse& r) {
  return make_error(r.status >= 500 ? ErrorCode::kUnavailable : ErrorCode::kInvalidArgument,
                    unexpected_response(r));
}

class Kv {
 public:
  explicit Kv(const AgentClient& client) : client_(client) {}

  struct Read {
    std::uint64_t index = 0;
    std::vector<KvPair> pairs;
  };

  // GET key (or prefix with recurse), blocking from `index` for `wait` (0: the agent's default).
  Result<Read> read(const std::string& key, bool recurse, std::uint64_t index, milliseconds wait,
                    bool consistent, int cancel_fd) const {
    std::string query = recurse ? "recurse" : "";
    const auto add = [&query](const std::string& p) { query += (query.empty() ? "" : "&") + p; };
    if (consistent) add("consistent");
    if (index > 0) add(fmt::format("index={}", index));
    if (wait.count() > 0) add(fmt::format("wait={}ms", wait.count()));
    auto r =
        client_.call("GET", "/v1/kv/" + escape_path(key), query, "", kBlockingTimeoutMs, cancel_fd);
    if (!r) return r.error();
    if (r->status != 200 && r->status != 404) return answer_error(*r);
    Read out;
    if (const auto it = r->headers.find("x-consul-index"); it != r->headers.end()) {
      out.index = std::strtoull(it->second.c_str(), nullptr, 10);
    }
    if (r->status == 200) {
      const Json doc = Json::parse(r->body, nullptr, false);
      if (!doc.is_array()) return make_error(ErrorCode::kInvalidArgument, "malformed KV response");
      for (const auto& e : doc) out.pairs.push_back(decode_pair(e));
    }
    return out;
  }

  // A PUT or DELETE answered true/false.
  Result<bool> write(std::string_view method, const std::string& key, std::string query,
                     std::string body = "") const {
    auto r = client_.call(method, "/v1/kv/" + escape_path(key), std::move(query), std::move(body));
    if (!r) return r.error();
    if (r->status != 200) return answer_error(*r);
    return r->body.find("true") != std::string::npos;
  }

 private:
  const AgentClient& client_;
};

// ---- the session and its renewal -----------------------------------------------------------

class Session {
 public:
  Session(const AgentClient& client, std::string id) : client_(client), id_(std::move(id)) {}
  ~Session() { stop_renewing(); }

  const std::string& id() const { return id_; }

  // Consul's RenewPeriodic: renew every TTL/2; after a failed renewal retry each second until a
  // whole TTL has passed since the last success; stop when the session is gone (404).
  void start_renewing() {
    renewer_ = std::thread([this] {
      milliseconds ttl = kSessionTtlMs;
      milliseconds wait = ttl / 2;
      auto last_renew = Clock::now();
      while (Clock::now() - last_renew <= ttl) {
        if (!done_.sleep_for(wait)) return;
        auto r = client_.call("PUT", "/v1/session/renew/" + escape_path(id_, false), "", "",
                              kHttpClientTimeoutMs, done_.fd());
        if (!r || (r->status != 200 && r->status != 404)) {
          wait = milliseconds(1'000);
          continue;
        }
        if (r->status == 404) return;  // the session is gone: the lock monitor will see it
        const Json doc = Json::parse(r->body, nullptr, false);
        if (doc.is_array() && !doc.empty()) {
          if (auto d = parse_go_duration(json_string(doc[0], "TTL")); d && d->count_ms() > 0) {
            ttl = milliseconds(d->count_ms());
          }
        }
        wait = ttl / 2;
        last_renew = Clock::now();
      }
    });
  }

  void stop_renewing() {
    done_.fire();
    if (renewer_.joinable()) renewer_.join();
  }

  // Stops renewing and destroys the session (Consul's lock does both when it is released).
  void destroy() {
    stop_renewing();
    if (destroyed_) return;
    destroyed_ = true;
    (void)client_.call("PUT", "/v1/session/destroy/" + escape_path(id_, false));
  }

 private:
  const AgentClient& client_;
  std::string id_;
  Latch done_;
  std::thread renewer_;
  bool destroyed_ = false;
};

Result<std::string> create_session(const AgentClient& client, const std::string& name,
                                   bool semaphore) {
  Json body = {{"Name", name}, {"TTL", kSessionTtl}};
  // A semaphore's contender keys must vanish with their session, so its sessions delete.
  if (semaphore) body["Behavior"] = "delete";
  auto r = client.call("PUT", "/v1/session/create", "", body.dump());
  if (!r) return r.error();
  if (r->status != 200) return make_error(ErrorCode::kUnavailable, unexpected_response(*r));
  const Json doc = Json::parse(r->body, nullptr, false);
  std::string id = json_string(doc, "ID");
  if (id.empty()) return make_error(ErrorCode::kInvalidArgument, "no ID in the agent's answer");
  return id;
}

// ---- the lock and the semaphore --------------------------------------------------------------

enum class Acquired { kYes, kStopped };

// What lock and semaphore have in common, as Consul's lock command sees them.
class Holder {
 public:
  virtual ~Holder() = default;
  // Blocks until held, stopped (shutdown or -timeout) or failed.
  virtual Result<Acquired> acquire(const Latch& stop, std::optional<Duration> timeout) = 0;
  // Runs until the lock is lost (then fires `lost`) or `stop` fires.
  virtual void monitor(const Latch& stop, Latch& lost) = 0;
  virtual Result<void> release() = 0;
  // Removes the coordination key when nobody uses it; in_use is set when somebody does.
  virtual Result<void> cleanup(bool& in_use) = 0;
};

// The monitor of both: blocking reads of `key` (a prefix with recurse) with ?consistent until
// `held` says the lock is no longer ours, or the agent stays unreachable past -monitor-retry;
// then `lost` fires. A stop ends it quietly.
template <typename Held>
void watch_while_held(const Kv& kv, const std::string& key, bool recurse, std::int64_t retries,
                      const Latch& stop, Latch& lost, const Held& held) {
  std::uint64_t index = 0;
  while (!stop.fired()) {
    auto read = kv.read(key, recurse, index, milliseconds(0), true, stop.fd());
    if (stop.fired()) return;
    if (!read) {
      if (retryable(read.error()) && retries > 0) {
        --retries;
        if (!stop.sleep_for(kMonitorRetryTime)) return;
        continue;
      }
      break;
    }
    if (!held(*read)) break;
    index = read->index;
  }
  lost.fire();
}

// The one-shot wait of -timeout: after the first attempt, give up once the time is spent and
// never block longer than what is left.
class Attempts {
 public:
  explicit Attempts(std::optional<Duration> timeout) : timeout_(timeout), start_(Clock::now()) {}
  // Returns false when the time is up; sets `wait` for the next blocking read.
  bool next(milliseconds& wait) {
    if (timeout_ && attempts_++ > 0) {
      const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start_);
      const milliseconds limit(timeout_->count_ms());
      if (elapsed > limit) return false;
      wait = limit - elapsed;
    }
    return true;
  }

 private:
  std::optional<Duration> timeout_;
  Clock::time_point start_;
  int attempts_ = 0;
};

class Lock final : public Holder {
 public:
  Lock(const AgentClient& client, std::string key, std::string session, std::int64_t retries)
      : kv_(client), key_(std::move(key)), session_(std::move(session)), retries_(retries) {}

  Result<Acquired> acquire(const Latch& stop, std::optional<Duration> timeout) override {
    Attempts attempts(timeout);
    std::uint64_t index = 0;
    while (true) {
      if (stop.fired()) return Acquired::kStopped;
      milliseconds wait = kLockWait;
      if (!attempts.next(wait)) return Acquired::kStopped;
      auto read = kv_.read(key_, false, index, wait, false, stop.fd());
      if (stop.fired()) return Acquired::kStopped;
      if (!read) return fail("failed to read lock: " + read.error().message);
      const KvPair* pair = read->pairs.empty() ? nullptr : &read->pairs[0];
      if (pair != nullptr && pair->flags != kLockFlagValue) {
        return fail("Existing key does not match lock use");
      }
      if (pair != nullptr && pair->session == session_) return Acquired::kYes;
      if (pair != nullptr && !pair->session.empty()) {
        index = read->index;  // held by another: block until the key changes
        continue;
      }
      auto got = kv_.write(
          "PUT", key_, fmt::format("acquire={}&flags={}", escape_query(session_), kLockFlagValue));
      if (!got) return fail("failed to acquire lock: " + got.error().message);
      if (*got) return Acquired::kYes;
      // Refused: either somebody took it first (block on it), or a lock-delay is running after a
      // session was invalidated (nobody holds it; try again in a while).
      auto again = kv_.read(key_, false, 0, milliseconds(0), false, stop.fd());
      if (again && !again->pairs.empty() && !again->pairs[0].session.empty()) {
        index = again->index;
        continue;
      }
      index = 0;
      if (!stop.sleep_for(kLockRetry)) return Acquired::kStopped;
    }
  }

  void monitor(const Latch& stop, Latch& lost) override {
    watch_while_held(kv_, key_, false, retries_, stop, lost, [this](const Kv::Read& read) {
      return !read.pairs.empty() && read.pairs[0].session == session_;
    });
  }

  Result<void> release() override {
    auto done = kv_.write(
        "PUT", key_, fmt::format("release={}&flags={}", escape_query(session_), kLockFlagValue));
    if (!done) {
      return make_error(ErrorCode::kUnavailable, "failed to release lock: " + done.error().message);
    }
    return ok();  // false: it was not ours any more (lost), which is not an error
  }

  Result<void> cleanup(bool& in_use) override {
    in_use = false;
    auto read = kv_.read(key_, false, 0, milliseconds(0), false, -1);
    if (!read) {
      return make_error(ErrorCode::kUnavailable, "failed to read lock: " + read.error().message);
    }
    if (read->pairs.empty()) return ok();
    const KvPair& pair = read->pairs[0];
    if (pair.flags != kLockFlagValue) {
      return make_error(ErrorCode::kConflict, "Existing key does not match lock use");
    }
    if (!pair.session.empty()) {
      in_use = true;
      return ok();
    }
    auto removed = kv_.write("DELETE", key_, fmt::format("cas={}", pair.modify_index));
    if (!removed) {
      return make_error(ErrorCode::kUnavailable,
                        "failed to remove lock: " + removed.error().message);
    }
    in_use = !*removed;
    return ok();
  }

 private:
  static Error fail(std::string text) {
    return make_error(ErrorCode::kUnavailable, std::move(text));
  }

  Kv kv_;
  std::string key_, session_;
  std::int64_t retries_;
};

class Semaphore final : public Holder {
 public:
  Semaphore(const AgentClient& client, std::string prefix, std::string session, std::int64_t limit,
            std::int64_t retries)
      : kv_(client),
        prefix_(std::move(prefix)),
        lock_key_(join_key(prefix_, ".lock")),
        contender_key_(join_key(prefix_, session)),
        session_(std::move(session)),
        limit_(limit),
        retries_(retries) {}

  Result<Acquired> acquire(const Latch& stop, std::optional<Duration> timeout) override {
    auto made =
        kv_.write("PUT", contender_key_,
                  fmt::format("acquire={}&flags={}", escape_query(session_), kSemaphoreFlagValue));
    if (!made || !*made) {
      return fail(fmt::format("failed to make contender entry: {}",
                              made ? "the agent answered false" : made.error().message));
    }
    Attempts attempts(timeout);
    std::uint64_t index = 0;
    while (true) {
      if (stop.fired()) return Acquired::kStopped;
      milliseconds wait = kLockWait;
      if (!attempts.next(wait)) return Acquired::kStopped;
      auto read = kv_.read(prefix_, true, index, wait, false, stop.fd());
      if (stop.fired()) return Acquired::kStopped;
      if (!read) return fail("failed to read prefix: " + read.error().message);
      const KvPair lock_pair = find_lock(read->pairs);
      if (lock_pair.flags != kSemaphoreFlagValue) {
        return fail("Existing key does not match semaphore use");
      }
      auto state = decode(lock_pair);
      if (!state) return state.error();
      if (state->limit != limit_) {
        return fail(
            fmt::format("semaphore limit conflict (lock: {}, local: {})", state->limit, limit_));
      }
      prune(*state, read->pairs);
      if (static_cast<std::int64_t>(state->holders.size()) >= state->limit) {
        index = read->index;
        continue;
      }
      state->holders.push_back(session_);
      auto set =
          kv_.write("PUT", lock_key_,
                    fmt::format("cas={}&flags={}", lock_pair.modify_index, kSemaphoreFlagValue),
                    encode(*state));
      if (!set) return fail("failed to update lock: " + set.error().message);
      if (*set) return Acquired::kYes;
      // Another contender changed .lock first: read again (the index moved, so at once).
    }
  }

  void monitor(const Latch& stop, Latch& lost) override {
    watch_while_held(kv_, prefix_, true, retries_, stop, lost, [this](const Kv::Read& read) {
      auto state = decode(find_lock(read.pairs));
      if (!state) return false;
      prune(*state, read.pairs);
      return std::find(state->holders.begin(), state->holders.end(), session_) !=
             state->holders.end();
    });
  }

  Result<void> release() override {
    while (true) {
      auto read = kv_.read(lock_key_, false, 0, milliseconds(0), false, -1);
      if (!read) return make_error(ErrorCode::kUnavailable, read.error().message);
      const KvPair pair = read->pairs.empty() ? KvPair{} : read->pairs[0];
      auto state = decode(pair);
      if (!state) return state.error();
      const auto it = std::find(state->holders.begin(), state->holders.end(), session_);
      if (it == state->holders.end()) break;
      state->holders.erase(it);
      auto set = kv_.write("PUT", lock_key_,
                           fmt::format("cas={}&flags={}", pair.modify_index, kSemaphoreFlagValue),
                           encode(*state));
      if (!set) {
        return make_error(ErrorCode::kUnavailable, "failed to update lock: " + set.error().message);
      }
      if (*set) break;
    }
    auto deleted = kv_.write("DELETE", contender_key_, "");
    if (!deleted) return make_error(ErrorCode::kUnavailable, deleted.error().message);
    return ok();
  }

  Result<void> cleanup(bool& in_use) override {
    in_use = false;
    auto read = kv_.read(prefix_, true, 0, milliseconds(0), false, -1);
    if (!read) {
      return make_error(ErrorCode::kUnavailable, "failed to read prefix: " + read.error().message);
    }
    const KvPair lock_pair = find_lock(read->pairs);
    if (lock_pair.modify_index == 0) return ok();
    if (lock_pair.flags != kSemaphoreFlagValue) {
      return make_error(ErrorCode::kConflict, "Existing key does not match semaphore use");
    }
    auto state = decode(lock_pair);
    if (!state) return state.error();
    prune(*state, read->pairs);
    if (!state->holders.empty()) {
      in_use = true;
      return ok();
    }
    auto removed = kv_.write("DELETE", lock_key_, fmt::format("cas={}", lock_pair.modify_index));
    if (!removed) {
      return make_error(ErrorCode::kUnavailable,
                        "failed to remove semaphore: " + removed.error().message);
    }
    in_use = !*removed;
    return ok();
  }

 private:
  struct State {
    std::int64_t limit = 0;
    std::vector<std::string> holders;  // session IDs, sorted as Go encodes a map
  };

  static Error fail(std::string text) {
    return make_error(ErrorCode::kUnavailable, std::move(text));
  }

  KvPair find_lock(const std::vector<KvPair>& pairs) const {
    for (const auto& p : pairs) {
      if (p.key == lock_key_) return p;
    }
    KvPair none;
    none.flags = kSemaphoreFlagValue;  // no .lock yet: as if an empty one were there
    return none;
  }

  Result<State> decode(const KvPair& pair) const {
    State s;
    if (pair.modify_index == 0 && pair.value.empty()) {
      s.limit = limit_;
      return s;
    }
    const Json doc = Json::parse(pair.value, nullptr, false);
    if (!doc.is_object() || !doc.contains("Limit") || !doc["Limit"].is_number_integer()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "lock decoding failed: " + lock_key_ + " is not a semaphore's lock");
    }
    s.limit = doc["Limit"].get<std::int64_t>();
    if (const auto h = doc.find("Holders"); h != doc.end() && h->is_object()) {
      for (const auto& [id, held] : h->items()) {
        if (held.is_boolean() && held.get<bool>()) s.holders.push_back(id);
      }
    }
    return s;
  }

  // Go's json.Marshal of Consul's semaphoreLock struct: {"Limit":N,"Holders":{"id":true,...}}.
  static std::string encode(State s) {
    std::sort(s.holders.begin(), s.holders.end());
    std::string holders;
    for (const auto& h : s.holders) {
      holders += fmt::format("{}{}:true", holders.empty() ? "" : ",", Json(h).dump());
    }
    return fmt::format("{{\"Limit\":{},\"Holders\":{{{}}}}}", s.limit, holders);
  }

  // A holder whose session no longer holds any key under the prefix is dead.
  static void prune(State& s, const std::vector<KvPair>& pairs) {
    std::erase_if(s.holders, [&pairs](const std::string& id) {
      return std::none_of(pairs.begin(), pairs.end(),
                          [&id](const KvPair& p) { return p.session == id; });
    });
  }

  Kv kv_;
  std::string prefix_, lock_key_, contender_key_, session_;
  std::int64_t limit_, retries_;
};

void info(const Options& o, std::string_view text) {
  if (!o.verbose) return;
  fmt::print("{}\n", text);
  std::fflush(stdout);
}

// Consul's killChild: SIGTERM, up to 5 s to exit, then SIGKILL.
void kill_child(const Options& o, Child& child) {
  if (child.exited()) return;
  info(o, fmt::format("Terminating child pid {}", child.pid()));
  child.signal(SIGTERM);
  if (child.wait({}, kKillGrace)) {
    info(o, "Child terminated");
    return;
  }
  info(o, "Child did not exit after grace period of 5s");
  info(o, fmt::format("Killing child pid {}", child.pid()));
  child.signal(SIGKILL);
  child.wait();
}

}  // namespace

int run_lock(Args args) {
  HttpOptions http;
  Options o;
  FlagSet flags("lock");
  add_http_flags(flags, http);
  flags.add_bool("child-exit-code", &o.child_exit_code,
                 "Exit 2 if the child process exited with an error if this is true, otherwise "
                 "this doesn't propagate an error from the child. The default value is false.");
  flags.add_int("n", &o.limit,
                "Optional limit on the number of concurrent lock holders. The underlying "
                "implementation switches from a lock to a semaphore when the value is greater "
                "than 1. The default value is 1.");
  flags.add_int("monitor-retry", &o.monitor_retry,
                "Number of times to retry if the agent returns a 500 error (or cannot be "
                "reached) while monitoring the lock, 1s apart. The default value is 3; 0 "
                "disables retries.");
  flags.add_string("name", &o.name,
                   "Optional name to associate with the lock session. If not provided, one is "
                   "generated based on the provided child command.");
  flags.add_bool("pass-stdin", &o.pass_stdin, "Pass stdin to the child process.");
  flags.add_bool("shell", &o.shell,
                 "Use a shell to run the command (can set a custom shell via the SHELL "
                 "environment variable). The default value is true.");
  const auto duration_setter = [&o](const std::string& v) -> std::optional<std::string> {
    auto d = parse_go_duration(v);
    if (!d) return "parse error";
    o.timeout = *d;
    return std::nullopt;
  };
  flags.add("timeout",
            "Maximum amount of time to wait to acquire the lock, specified as a "
            "duration like \"1s\" or \"3h\". The default value is 0.",
            duration_setter);
  flags.add("try", "DEPRECATED. Use -timeout instead.", duration_setter);
  flags.add_bool("verbose", &o.verbose, "Enable verbose (debugging) output.");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), kLockSynopsis, flags);

  // Consul's checks, in Consul's order.
  if (o.limit <= 0) {
    fmt::print(stderr, "Lock holder limit must be positive\n");
    return 1;
  }
  if (rest->size() < 2) {
    fmt::print(stderr, "Key prefix and child command must be specified\n");
    return 1;
  }
  std::string prefix = (*rest)[0];
  if (prefix.starts_with('/')) prefix.erase(0, 1);
  const std::vector<std::string> child_words(rest->begin() + 1, rest->end());
  if (o.timeout < Duration::zero()) {
    fmt::print(stderr, "Timeout must be positive\n");
    return 1;
  }
  if (o.name.empty()) {
    std::string command;
    for (const auto& w : child_words) command += (command.empty() ? "" : " ") + w;
    o.name = fmt::format("Praetor lock for '{}' at '{}'", command, prefix);
  }
  if (o.monitor_retry < 0) {
    fmt::print(stderr, "Number for 'monitor-retry' must be >= 0\n");
    return 1;
  }
  auto client = connect_to_agent(http);
  if (!client) return 1;
  const bool semaphore = o.limit > 1;
  if (semaphore) {
    info(o, fmt::format("Setting up semaphore (limit {}) at prefix: {}", o.limit, prefix));
  } else {
    info(o, fmt::format("Setting up lock at path: {}", join_key(prefix, ".lock")));
  }

  Latch shutdown;
  install_shutdown_signals(shutdown);
  info(o, "Attempting lock acquisition");
  auto session_id = create_session(*client, o.name, semaphore);
  if (!session_id) {
    fmt::print(stderr, "Lock acquisition failed: failed to create session: {}\n",
               session_id.error().message);
    return 1;
  }
  Session session(*client, *session_id);
  session.start_renewing();
  std::unique_ptr<Holder> holder;
  if (semaphore) {
    holder = std::make_unique<Semaphore>(*client, prefix, session.id(), o.limit, o.monitor_retry);
  } else {
    holder =
        std::make_unique<Lock>(*client, join_key(prefix, ".lock"), session.id(), o.monitor_retry);
  }
  const std::optional<Duration> timeout =
      o.timeout > Duration::zero() ? std::optional<Duration>(o.timeout) : std::nullopt;
  auto acquired = holder->acquire(shutdown, timeout);
  if (!acquired || *acquired == Acquired::kStopped) {
    if (!acquired) {
      fmt::print(stderr, "Lock acquisition failed: {}\n", acquired.error().message);
    } else {
      fmt::print(stderr, "Shutdown triggered or timeout during lock acquisition\n");
    }
    // A semaphore's contender key goes with its session (Behavior delete).
    session.destroy();
    return 1;
  }

  int child_code = 0;
  if (shutdown.fired()) {
    fmt::print(stderr, "Shutdown triggered during lock acquisition\n");
  } else {
    Latch monitor_stop, lost;
    std::thread monitor([&] { holder->monitor(monitor_stop, lost); });
    info(o, "Starting handler");
    ChildSpec spec;
    spec.words = child_words;
    spec.shell = o.shell;
    spec.extra_env = {"CONSUL_LOCK_HELD=true"};
    spec.pass_stdin = o.pass_stdin;
    std::fflush(stdout);
    auto child = Child::start(spec);
    if (!child) {
      fmt::print(stderr, "Error starting handler: {}\n", child.error().message);
      child_code = 2;
    } else {
      auto status = child->wait({&shutdown, &lost});
      if (status) {
        if (const std::string error = go_exit_error(*status); !error.empty()) {
          fmt::print(stderr, "Error running handler: {}\n", error);
          child_code = 2;
        }
        info(o, "Child terminated, releasing lock");
      } else {
        info(o,
             shutdown.fired() ? "Shutdown triggered, killing child" : "Lock lost, killing child");
        kill_child(o, *child);
      }
    }
    monitor_stop.fire();
    monitor.join();
  }

  const auto released = holder->release();
  session.destroy();
  if (!released) {
    fmt::print(stderr, "Lock release failed: {}\n", released.error().message);
    return 1;
  }
  bool in_use = false;
  if (auto cleaned = holder->cleanup(in_use); !cleaned) {
    fmt::print(stderr, "Lock cleanup failed: {}\n", cleaned.error().message);
    return 1;
  }
  info(o, in_use ? "Cleanup aborted, lock in use" : "Cleanup succeeded");
  return o.child_exit_code ? child_code : 0;
}

}  // namespace praetor::cmd
