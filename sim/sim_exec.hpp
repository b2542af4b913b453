// Scripted check outcomes: tables from argv (script checks), URL (HTTP checks) and "host:port"
// (TCP checks) to the result a check run should produce and how long it takes. Tests and fault
// plans change the tables during a run ("the database is down now"). An argv missing from the
// table fails to spawn, like a missing binary; a URL or address missing from its table is
// refused, like a port nothing listens on.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/node/env.hpp"

namespace praetor::sim {

struct ScriptedOutcome {
  int exit_code = 0;
  std::string output;
  Duration run_time = Duration::milliseconds(10);
};

// An HTTP check's endpoint: it answers (status, reason, body), refuses the connection, or accepts
// and never answers (the check times out).
struct ScriptedHttp {
  enum class Mode : std::uint8_t { kRespond, kRefused, kHang };
  Mode mode = Mode::kRespond;
  int status = 200;
  std::string reason = "OK";
  std::string body;
  Duration run_time = Duration::milliseconds(10);

  static ScriptedHttp respond(int status, std::string reason, std::string body = {},
                              Duration run_time = Duration::milliseconds(10)) {
    return ScriptedHttp{Mode::kRespond, status, std::move(reason), std::move(body), run_time};
  }
  static ScriptedHttp refused() { return with_mode(Mode::kRefused); }
  static ScriptedHttp hang() { return with_mode(Mode::kHang); }

 private:
  static ScriptedHttp with_mode(Mode mode) {
    ScriptedHttp out;
    out.mode = mode;
    return out;
  }
};

// A TCP check's endpoint: up (connects), down (refused) or hanging (the connect times out).
struct ScriptedTcp {
  enum class State : std::uint8_t { kUp, kDown, kHang };
  State state = State::kUp;
  Duration run_time = Duration::milliseconds(1);
};

class SimExec {
 public:
  void set(std::vector<std::string> args, ScriptedOutcome outcome);
  void clear(const std::vector<std::string>& args);
  // The outcome for argv not in the table; unset means "spawn failed".
  void set_default(std::optional<ScriptedOutcome> outcome) { default_ = std::move(outcome); }

  // HTTP checks, by the check's URL exactly as configured.
  void set_http(std::string url, ScriptedHttp outcome);
  void clear_http(const std::string& url);
  // TCP checks, by the check's "host:port" exactly as configured.
  void set_tcp(std::string address, ScriptedTcp outcome);
  void set_tcp(std::string address, ScriptedTcp::State state) {
    ScriptedTcp outcome;
    outcome.state = state;
    set_tcp(std::move(address), outcome);
  }
  void clear_tcp(const std::string& address);

  // What running `spec` produces and after how long. A run longer than spec.timeout is killed
  // at the timeout (timed_out, exit -1); output is cut to the last output_max_bytes (an HTTP
  // body to its first output_max_bytes, as io/ does). Failures read as io/ writes them.
  struct Resolved {
    node::ExecResult result;
    Duration after;
  };
  Resolved resolve(const node::ExecSpec& spec) const;

 private:
  Resolved resolve_args(const node::ExecSpec& spec) const;
  Resolved resolve_http(const node::ExecSpec& spec) const;
  Resolved resolve_tcp(const node::ExecSpec& spec) const;

  std::map<std::vector<std::string>, ScriptedOutcome> table_;
  std::map<std::string, ScriptedHttp> http_;
  std::map<std::string, ScriptedTcp> tcp_;
  std::optional<ScriptedOutcome> default_;
};

}  // namespace praetor::sim
