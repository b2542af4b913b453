// HTTP transcripts of the agent: requests in, responses out, read and reviewed as text. A -dev
// agent runs on a RecordingEnv (no host, no real time); each command is one request or a step of
// the clock, and its output is every response it produced. Regenerate after an intended change
// with --rewrite (or PRAETOR_REWRITE=1) and review the diff like code.
//
//   GET /v1/kv/a?raw            a request, answered at once: its response
//   PUT /v1/kv/a hello          the rest of the line is the body (\n, \r, \t, \\ and \xHH escapes)
//   send GET /v1/kv/?index=3    a request that may park: "parked #N", or its response
//   advance 5s                  moves the clock, firing the agent's timers; prints the responses
//                               of parked requests that were answered meanwhile
//   finish 200 some output      finishes every check run started so far: a program exits with
//                               the code; an HTTP check gets it as the response status (0 or
//                               less: no response); a TCP check connects when it is 0 or 2xx;
//                               the rest of the line is the output. Prints each run
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "core/base/duration.hpp"
#include "core/node/agent.hpp"
#include "tests/support/agent_harness.hpp"
#include "tests/support/transcript.hpp"

namespace praetor::node {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> unescape(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i == text.size()) return std::nullopt;
    switch (text[i]) {
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case '\\': out += '\\'; break;
      case 'x': {
        if (i + 2 >= text.size()) return std::nullopt;
        const int hi = hex_digit(text[i + 1]);
        const int lo = hex_digit(text[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
      }
      default: return std::nullopt;
    }
  }
  return out;
}

// Bytes outside printable ASCII are shown as \xHH, so a transcript is plain text.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '\n' || (b >= 0x20 && b < 0x7F)) {
      out += c;
    } else {
      out += fmt::format("\\x{:02x}", b);
    }
  }
  return out;
}

std::string render(const HttpResponse& r) {
  std::string out = fmt::format("{} {}", r.status, http_reason(r.status));
  for (const auto& [name, value] : r.headers) out += fmt::format("\n{}: {}", name, value);
  if (!r.body.empty()) out += "\n" + printable(r.body);
  return out;
}

class AgentTranscript {
 public:
  std::string handle(std::string_view command) {
    if (command.starts_with("advance ")) return advance(command.substr(8));
    if (command.starts_with("finish ")) return finish(command.substr(7));
    const bool send = command.starts_with("send ");
    if (send) command.remove_prefix(5);
    const auto space = command.find(' ');
    if (space == std::string_view::npos) return "error: expected METHOD TARGET [BODY]";
    const std::string method(command.substr(0, space));
    std::string_view rest = command.substr(space + 1);
    const auto body_at = rest.find(' ');
    const std::string target(rest.substr(0, body_at));
    auto body = unescape(body_at == std::string_view::npos ? "" : rest.substr(body_at + 1));
    if (!body) return "error: bad escape in the body";
    auto parsed = parse_target(target);
    if (!parsed) return "error: " + parsed.error().message;
    HttpRequest r;
    r.method = method;
    r.path = parsed->path;
    r.raw_path = parsed->raw_path;
    r.query = parsed->query;
    r.body = std::move(*body);
    const RequestId id = h_.send(std::move(r));
    std::string out;
    if (auto answered = h_.take(id)) {
      out = render(*answered);
    } else if (send) {
      out = fmt::format("parked #{}", id.value());
    } else {
      return "error: no answer (use send for a request that may park)";
    }
    // A write wakes parked reads: their answers follow the write's own.
    if (const std::string woken = render_all(); !woken.empty()) out += "\n" + woken;
    return out;
  }

 private:
  std::string finish(std::string_view args) {
    const auto space = args.find(' ');
    const std::string code_text(args.substr(0, space));
    const std::string output(space == std::string_view::npos ? "" : args.substr(space + 1));
    int code = 0;
    try {
      code = std::stoi(code_text);
    } catch (const std::exception&) {
      return "error: expected an exit code";
    }
    auto runs = std::exchange(h_.recorder().runs, {});
    std::string out;
    for (auto& [id, spec] : runs) {
      ExecResult r;
      r.output = output;
      std::string what;
      switch (spec.kind) {
        case ExecSpec::Kind::kArgs:
          what = fmt::format("{}", fmt::join(spec.args, " "));
          r.exit_code = code;
          break;
        case ExecSpec::Kind::kHttp:
          what = fmt::format("{} {}", spec.http.method, spec.http.url);
          r.exit_code = code <= 0 ? -1 : 0;
          r.http_status = code <= 0 ? 0 : code;
          r.http_reason = code <= 0 ? "" : std::string(http_reason(code));
          break;
        case ExecSpec::Kind::kTcp:
          what = fmt::format("tcp {}", spec.tcp);
          r.exit_code = code == 0 || (code >= 200 && code <= 299) ? 0 : -1;
          break;
      }
      out += fmt::format("{}run #{} {} (timeout {})", out.empty() ? "" : "\n", id.value(), what,
                         format_go_duration(spec.timeout));
      h_.agent().on_check_result(id, std::move(r));
    }
    const std::string answers = render_all();
    if (!answers.empty()) out += "\n" + answers;
    return out.empty() ? "(no runs)" : out;
  }

  std::string advance(std::string_view by) {
    auto d = parse_go_duration(by);
    if (!d) return "error: " + d.error().message;
    h_.advance_to(h_.now() + *d);
    const std::string out = render_all();
    return out.empty() ? "(no answers)" : out;
  }

  // The answers to parked requests, each as "#id: ...".
  std::string render_all() {
    std::string out;
    for (const auto& [id, response] : h_.take_all()) {
      out += fmt::format("{}#{}: {}", out.empty() ? "" : "\n", id.value(), render(response));
    }
    return out;
  }

  AgentHarness h_;
};

void run(const char* name) {
  AgentTranscript t;
  test::expect_transcript(std::string(AGENT_TESTDATA) + "/" + name,
                          [&](std::string_view command) { return t.handle(command); });
}

TEST(AgentHttpTranscript, Kv) { run("kv.txt"); }
TEST(AgentHttpTranscript, Blocking) { run("blocking.txt"); }
TEST(AgentHttpTranscript, HostileInput) { run("hostile.txt"); }
TEST(AgentHttpTranscript, StatusAgentCatalog) { run("status.txt"); }
TEST(AgentHttpTranscript, Events) { run("events.txt"); }
TEST(AgentHttpTranscript, Catalog) { run("catalog.txt"); }
TEST(AgentHttpTranscript, Health) { run("health.txt"); }
TEST(AgentHttpTranscript, Sessions) { run("session.txt"); }
TEST(AgentHttpTranscript, Txn) { run("txn.txt"); }
TEST(AgentHttpTranscript, AgentServicesAndChecks) { run("agent_local.txt"); }
TEST(AgentHttpTranscript, Snapshot) { run("snapshot.txt"); }

}  // namespace
}  // namespace praetor::node
