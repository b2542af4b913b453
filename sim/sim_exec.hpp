// Scripted check outcomes: a table from argv to the result a check run should produce and how
// long it takes. Tests and fault plans change the table during a run ("the database is down
// now"). An argv missing from the table fails to spawn, like a missing binary.
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

class SimExec {
 public:
  void set(std::vector<std::string> args, ScriptedOutcome outcome);
  void clear(const std::vector<std::string>& args);
  // The outcome for argv not in the table; unset means "spawn failed".
  void set_default(std::optional<ScriptedOutcome> outcome) { default_ = std::move(outcome); }

  // What running `spec` produces and after how long. A run longer than spec.timeout is killed
  // at the timeout (timed_out, exit -1); output is cut to the last output_max_bytes.
  struct Resolved {
    node::ExecResult result;
    Duration after;
  };
  Resolved resolve(const node::ExecSpec& spec) const;

 private:
  std::map<std::vector<std::string>, ScriptedOutcome> table_;
  std::optional<ScriptedOutcome> default_;
};

}  // namespace praetor::sim
