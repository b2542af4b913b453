// UvProbe: runs HTTP and TCP checks (ExecSpec::Kind::kHttp, kTcp) on the host's libuv loop, with
// no threads of its own beyond libuv's resolver pool.
//
// A TCP check resolves "host:port", connects, and closes at once. An HTTP check makes one
// HTTP/1.1 request per hop ("Connection: close"), parses the response with http-parser (chunked
// and EOF-delimited bodies included), keeps the first output_max_bytes of the body and stops
// reading there, and follows redirects as Go's http.Client does (at most 10; D42).
// https:// runs TLS over the same stream through TlsClient. spec.timeout bounds the whole check,
// resolution and redirects included; a peer that trickles bytes cannot stretch it.
//
// Like UvExec, every result is delivered through the completion callback from a handle's close
// callback, so always later than run(); close() abandons everything in flight and delivers nothing.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <set>

#include "core/base/log.hpp"
#include "core/node/env.hpp"

namespace praetor::io {

using ExecCompletion = std::function<void(CheckRunId, node::ExecResult)>;

class TlsContext;

class UvProbe {
 public:
  UvProbe(uv_loop_t* loop, Logger& logger, ExecCompletion completion);
  ~UvProbe();
  UvProbe(const UvProbe&) = delete;
  UvProbe& operator=(const UvProbe&) = delete;

  // spec.kind is kHttp or kTcp.
  void run(CheckRunId id, node::ExecSpec spec);

  // Cancels every probe in flight; their results are not delivered. The loop must then run
  // until closed() (handles close, a resolver request still in the pool finishes).
  void close();
  bool closed() const { return probes_.empty(); }
  std::size_t running() const { return probes_.size(); }

  class Probe;

 private:
  // The OpenSSL context, made on the first https check (loading the trust store is not free).
  TlsContext* tls_context(std::string& error);

  uv_loop_t* loop_;
  Logger& logger_;
  ExecCompletion completion_;
  std::set<Probe*> probes_;
  std::unique_ptr<TlsContext> tls_;
  bool closing_ = false;
};

}  // namespace praetor::io
