// The Env seam: the small interfaces through which a Process touches the world. A host (io/ for
// production, sim/ for the simulator) owns one implementation of each and hands the Process an
// Env& at start.
//
// The rule that makes both hosts equivalent: NO RE-ENTRANCY. No Env call ever calls back into the
// Process synchronously. Completions (a write made durable, a timer fired, a frame arrived, a
// check finished) arrive as later Process calls, queued by the host. Behaviour is therefore a
// function of the sequence of inputs, which the simulator controls and records.
#pragma once

#include <fmt/format.h>

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"
#include "core/base/instant.hpp"
#include "core/base/log.hpp"
#include "core/base/result.hpp"
#include "core/base/rng.hpp"
#include "core/base/storage_types.hpp"
#include "core/node/http.hpp"

namespace praetor::node {

// An address a process can be reached at: "127.0.0.2" and a port. Hosts resolve nothing; the
// host string is an IP literal.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
  std::string to_string() const;  // "127.0.0.2:8300", "[::1]:8300"
};
Result<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port);

enum class Channel : std::uint8_t {
  kRpc = 0,        // server RPC, TCP, framed (port 8300)
  kGossipLan = 1,  // serf LAN, UDP (+TCP push-pull), port 8301
  kGossipWan = 2,  // serf WAN, port 8302
  kDns = 3,        // DNS, UDP, port 8600
  kHttp = 4,       // reserved: HTTP goes through on_client_request
  // Serf push/pull state exchanges: reliable, ordered streams (TCP in io/) on the gossip ports.
  // A frame sent to the `from` of a received stream frame goes back over the same connection.
  kGossipLanStream = 5,  // TCP 8301
  kGossipWanStream = 6,  // TCP 8302
  // DNS over TCP (RFC 1035 §4.2.2, RFC 7766), port 8600: the host strips and adds the 2-byte
  // length prefix, so a frame is one whole DNS message; a frame sent to the `from` of a received
  // one goes back over the same connection, in the order sent (pipelined queries work).
  kDnsStream = 7,
};
std::string_view channel_name(Channel c);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant now() const = 0;   // monotonic
  virtual WallTime wall() const = 0; // display and TTL text only; skewed in the simulator
};

class Network {
 public:
  virtual ~Network() = default;
  // Best effort: delivery may fail, be delayed, duplicated or reordered. The receiver gets
  // Process::on_frame(from, channel, payload). Frames are bounded by limits::kRpcMaxFrameBytes.
  virtual void send(const Endpoint& to, Channel channel, Bytes payload) = 0;
};

// Storage is a flat namespace of named files; WriteOp, WriteBatch and StoredFiles are declared in
// core/base/storage_types.hpp so that pure cores (the WAL) can produce them without the node.
using praetor::StoredFiles;
using praetor::WriteBatch;
using praetor::WriteOp;

class Storage {
 public:
  virtual ~Storage() = default;
  // Batches take effect in the order they were written (a later batch is never durable before
  // an earlier one), and complete in that order.
  virtual void write(WriteBatch batch, Ticket ticket) = 0;
  // Called once, at start, before any write: the files as a crash left them.
  virtual Result<StoredFiles> recover() = 0;
};

class Timer {
 public:
  virtual ~Timer() = default;
  // The process wants Process::on_wake(now) at or after `at`. A later call replaces the earlier
  // one; Instant::never() cancels.
  virtual void wake_at(Instant at) = 0;
};

// An HTTP check's request (ExecSpec::Kind::kHttp).
struct HttpProbe {
  std::string url;  // "http://127.0.0.1:8080/health"; https:// when the host supports TLS
  std::string method = "GET";
  std::map<std::string, std::vector<std::string>> header;
  std::string body;
  bool tls_skip_verify = false;
};

// What a check run does. The host carries it out and reports an ExecResult; the agent decides
// what the result means (passing, warning, critical), so every host classifies alike.
struct ExecSpec {
  std::vector<std::string> args;  // kArgs: args[0] is the program; a legacy "script" is
                                  // {"/bin/sh","-c",s}
  Duration timeout = Duration::seconds(30);
  std::size_t output_max_bytes = 4096;
  enum class Kind : std::uint8_t { kArgs, kHttp, kTcp };
  Kind kind = Kind::kArgs;
  HttpProbe http;   // kHttp
  std::string tcp;  // kTcp: "host:port" to connect to ("[::1]:5432" for IPv6)

  static ExecSpec program(std::vector<std::string> args, Duration timeout,
                          std::size_t output_max_bytes) {
    ExecSpec spec;
    spec.args = std::move(args);
    spec.timeout = timeout;
    spec.output_max_bytes = output_max_bytes;
    return spec;
  }
};
struct ExecResult {
  // kArgs: the exit code, -1 when killed by a signal or not started. kHttp and kTcp: 0 when a
  // response came (kHttp) or the connection was made (kTcp), -1 otherwise (refused, timed out,
  // unresolvable), with the reason in output.
  int exit_code = -1;
  bool timed_out = false;
  bool spawn_failed = false;
  std::string output;       // kArgs: stdout+stderr, the last output_max_bytes; kHttp: the response
                            // body's first output_max_bytes; kTcp and failures: what happened
  int http_status = 0;      // kHttp: the response's status code (0 when none came)
  std::string http_reason;  // kHttp: the status line's reason phrase ("OK")
};

class Exec {
 public:
  virtual ~Exec() = default;
  // Runs a check (a program, an HTTP request or a TCP connect, bounded by spec.timeout); the
  // result arrives as Process::on_check_result(id, result), always later than run().
  virtual void run(CheckRunId id, ExecSpec spec) = 0;
};

// Answers to client requests (HTTP; the CLI speaks HTTP). DNS answers are frames on kDns and
// kDnsStream, not responses.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void respond(RequestId id, HttpResponse response) = 0;
};

// Things a process may ask of its host that are not I/O on its behalf.
class Control {
 public:
  virtual ~Control() = default;
  // The process has finished (graceful leave done, or a fatal error): the host stops its loop.
  virtual void shutdown(int exit_code) = 0;
  // PUT /v1/agent/reload: the host re-reads the configuration sources (files are the host's
  // business) and, when they load, calls the process's reload with the result; a failed load is
  // logged and the running configuration stays.
  virtual void request_reload() = 0;
};

struct Env {
  Clock& clock;
  Network& network;
  Storage& storage;
  Timer& timer;
  Exec& exec;
  Responder& responder;
  Control& control;
  Logger& logger;
  std::uint64_t seed;  // for the process's Rng; the host picks it (the sim from its master seed)
};

}  // namespace praetor::node

template <>
struct fmt::formatter<praetor::node::Endpoint> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const praetor::node::Endpoint& e, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}", e.to_string());
  }
};
