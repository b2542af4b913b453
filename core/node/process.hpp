// Process: the unit a host runs. Every method is an input; effects go out through the Env the
// process was started with. A host calls these one at a time, never concurrently and never from
// inside an Env call.
#pragma once

#include <cstdint>

#include "core/node/env.hpp"

namespace praetor::node {

// Why a process is asked to stop: Consul leaves the cluster or not depending on the signal
// (leave_on_terminate, skip_leave_on_interrupt); `praetor leave` always leaves.
enum class StopReason : std::uint8_t { kInterrupt, kTerminate, kLeave };

class Process {
 public:
  virtual ~Process() = default;

  // First call. The process recovers its storage (env.storage.recover()) and arms its timer.
  virtual void start(Env& env) = 0;
  virtual void on_frame(const Endpoint& from, Channel channel, Bytes payload) = 0;
  virtual void on_written(Ticket ticket, Result<void> result) = 0;
  // The timer fired: now >= the last wake_at. Hosts may also call it early; a process re-checks.
  virtual void on_wake(Instant now) = 0;
  virtual void on_check_result(CheckRunId id, ExecResult result) = 0;
  // A client request; the answer goes out later through env.responder (never a return value).
  virtual void on_client_request(RequestId id, HttpRequest request) = 0;
  // Graceful stop (SIGINT/SIGTERM): leave if configured, then env.control.shutdown().
  virtual void stop(StopReason reason) = 0;
};

}  // namespace praetor::node
