// UvExec: runs script checks. The child is started with posix_spawn (glibc's clone(CLONE_VM |
// CLONE_VFORK) path), not uv_spawn: uv_spawn forks, and a fork copies the agent's page tables,
// which costs milliseconds per start once the agent holds tens of megabytes and stalls the loop
// for every other client (D48). The child leads its own session and process group
// (POSIX_SPAWN_SETSID), so a timeout kills the whole group it started, not just the shell. Its
// stdout and stderr share one pipe whose last output_max_bytes are kept. Its exit is watched
// through a pidfd on the loop. The result is delivered through the Completion callback once the
// child has exited and its pipe is closed, always later than run() (the host turns it into
// Process::on_check_result).
//
// HTTP and TCP checks (ExecSpec::Kind::kHttp, kTcp) go to the UvProbe it owns, so the host has
// one Exec for every kind and closed()/running() count them all.
#pragma once

#include <uv.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/base/log.hpp"
#include "core/node/env.hpp"
#include "io/uv_probe.hpp"

namespace praetor::io {

// Keeps the last `max_bytes` of what is appended (a check's output tail).
class OutputTail {
 public:
  explicit OutputTail(std::size_t max_bytes) : max_bytes_(max_bytes) {}
  void append(std::string_view data);
  std::string take();

 private:
  std::size_t max_bytes_;
  std::string buffer_;
};

class UvExec final : public node::Exec {
 public:
  UvExec(uv_loop_t* loop, Logger& logger, ExecCompletion completion);
  ~UvExec() override;
  UvExec(const UvExec&) = delete;
  UvExec& operator=(const UvExec&) = delete;

  void run(CheckRunId id, node::ExecSpec spec) override;

  // Kills every running child's group, abandons every probe and closes the handles; results
  // are no longer delivered. The loop must then run until closed().
  void close();
  bool closed() const { return children_.empty() && probes_.closed(); }
  std::size_t running() const { return children_.size() + probes_.running(); }

  struct Child;

 private:
  static void on_exit_readable(uv_poll_t* poll, int status, int events);
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_timeout(uv_timer_t* timer);
  static void on_handle_closed(uv_handle_t* handle);

  void reap(Child& child);
  void maybe_finish(Child& child);
  void finish(Child& child);
  void close_pipe(Child& child);
  void fail_start(Child& child, int error, const std::string& program);

  uv_loop_t* loop_;
  Logger& logger_;
  ExecCompletion completion_;
  std::set<Child*> children_;
  UvProbe probes_;
  // Reads are delivered one at a time on the loop thread, so every child shares one buffer.
  std::vector<char> read_buffer_;
  bool closing_ = false;
};

}  // namespace praetor::io
