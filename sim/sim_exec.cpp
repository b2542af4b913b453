#include "sim/sim_exec.hpp"

#include <utility>

namespace praetor::sim {

void SimExec::set(std::vector<std::string> args, ScriptedOutcome outcome) {
  table_[std::move(args)] = std::move(outcome);
}

void SimExec::clear(const std::vector<std::string>& args) { table_.erase(args); }

SimExec::Resolved SimExec::resolve(const node::ExecSpec& spec) const {
  Resolved out;
  const ScriptedOutcome* found = nullptr;
  if (auto it = table_.find(spec.args); it != table_.end()) {
    found = &it->second;
  } else if (default_) {
    found = &*default_;
  }
  if (found == nullptr) {
    out.result.spawn_failed = true;
    out.result.exit_code = -1;
    out.result.output = spec.args.empty()
                            ? "no program"
                            : "exec: \"" + spec.args[0] + "\": executable file not found";
    out.after = Duration::milliseconds(1);
    return out;
  }
  if (found->run_time > spec.timeout) {
    out.result.timed_out = true;
    out.result.exit_code = -1;
    out.after = spec.timeout;
    return out;
  }
  out.result.exit_code = found->exit_code;
  out.result.output = found->output;
  if (out.result.output.size() > spec.output_max_bytes) {
    out.result.output = out.result.output.substr(out.result.output.size() - spec.output_max_bytes);
  }
  out.after = found->run_time;
  return out;
}

}  // namespace praetor::sim
