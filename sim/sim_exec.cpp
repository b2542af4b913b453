#include "sim/sim_exec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace praetor::sim {
namespace {

// The "host:port" an HTTP URL dials, for failure messages worded as io/ words them.
std::string dial_address(const std::string& url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  std::string scheme = url.substr(0, scheme_end);
  std::string authority = url.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string::npos) authority.erase(0, at + 1);
  auto bracket = authority.rfind(']');
  auto colon = authority.rfind(':');
  bool has_port = colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  if (!has_port) authority += scheme == "https" ? ":443" : ":80";
  return authority;
}

std::string op_name(std::string method) {
  if (method.empty()) method = "GET";
  std::transform(method.begin(), method.end(), method.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  method[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(method[0])));
  return method;
}

}  // namespace

void SimExec::set(std::vector<std::string> args, ScriptedOutcome outcome) {
  table_[std::move(args)] = std::move(outcome);
}

void SimExec::clear(const std::vector<std::string>& args) { table_.erase(args); }

void SimExec::set_http(std::string url, ScriptedHttp outcome) {
  http_[std::move(url)] = std::move(outcome);
}

void SimExec::clear_http(const std::string& url) { http_.erase(url); }

void SimExec::set_tcp(std::string address, ScriptedTcp outcome) {
  tcp_[std::move(address)] = outcome;
}

void SimExec::clear_tcp(const std::string& address) { tcp_.erase(address); }

SimExec::Resolved SimExec::resolve(const node::ExecSpec& spec) const {
  switch (spec.kind) {
    case node::ExecSpec::Kind::kHttp:
      return resolve_http(spec);
    case node::ExecSpec::Kind::kTcp:
      return resolve_tcp(spec);
    case node::ExecSpec::Kind::kArgs:
      break;
  }
  return resolve_args(spec);
}

SimExec::Resolved SimExec::resolve_args(const node::ExecSpec& spec) const {
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

SimExec::Resolved SimExec::resolve_http(const node::ExecSpec& spec) const {
  Resolved out;
  const std::string& url = spec.http.url;
  ScriptedHttp scripted = ScriptedHttp::refused();
  if (auto it = http_.find(url); it != http_.end()) scripted = it->second;
  auto prefix = fmt::format("{} \"{}\": ", op_name(spec.http.method), url);
  out.result.exit_code = -1;
  if (scripted.mode == ScriptedHttp::Mode::kRefused) {
    out.result.output =
        prefix + fmt::format("dial tcp {}: connect: connection refused", dial_address(url));
    out.after = Duration::milliseconds(1);
    return out;
  }
  if (scripted.mode == ScriptedHttp::Mode::kHang || scripted.run_time > spec.timeout) {
    out.result.timed_out = true;
    out.result.output =
        prefix + "context deadline exceeded (Client.Timeout exceeded while awaiting headers)";
    out.after = spec.timeout;
    return out;
  }
  out.result.exit_code = 0;
  out.result.http_status = scripted.status;
  out.result.http_reason = scripted.reason;
  out.result.output = scripted.body.substr(0, spec.output_max_bytes);
  out.after = scripted.run_time;
  return out;
}

SimExec::Resolved SimExec::resolve_tcp(const node::ExecSpec& spec) const {
  Resolved out;
  ScriptedTcp scripted;
  scripted.state = ScriptedTcp::State::kDown;
  if (auto it = tcp_.find(spec.tcp); it != tcp_.end()) scripted = it->second;
  bool hangs = scripted.state == ScriptedTcp::State::kHang || scripted.run_time > spec.timeout;
  if (hangs) {
    out.result.exit_code = -1;
    out.result.timed_out = true;
    out.result.output = fmt::format("dial tcp {}: i/o timeout", spec.tcp);
    out.after = spec.timeout;
    return out;
  }
  out.after = scripted.run_time;
  if (scripted.state == ScriptedTcp::State::kDown) {
    out.result.exit_code = -1;
    out.result.output = fmt::format("dial tcp {}: connect: connection refused", spec.tcp);
    return out;
  }
  out.result.exit_code = 0;
  out.result.output = fmt::format("TCP connect {}: Success", spec.tcp);
  return out;
}

}  // namespace praetor::sim
