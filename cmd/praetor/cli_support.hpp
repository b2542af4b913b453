// Pieces shared by the long-running client commands (`praetor watch`, `praetor lock`) and by the
// commands that print JSON the way Consul's Go code does (`kv export`, `watch`).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.hpp"

namespace praetor::cmd {

// ---- JSON as Go's encoding/json writes it ----------------------------------------------------

// A JSON string literal with Go's escaping: besides '"', '\\' and control characters it escapes
// <, > and & (HTML-safe, Go's default) and U+2028/U+2029; other UTF-8 is written as it is.
std::string go_json_string(std::string_view text);

// json.MarshalIndent(v, "", "    ") when indent > 0, json.Marshal(v) when indent == 0. Objects
// keep the order they have in `value` (callers order them as Go's structs are, see
// order_fields); empty arrays and objects print as [] and {} as in Go.
std::string go_json(const nlohmann::ordered_json& value, int indent);

// Rewrites an object so that the fields named in `order` come first, in that order, followed by
// any others in their original order. Fields named in `order` but absent stay absent: we do not
// invent what the agent did not send.
nlohmann::ordered_json order_fields(const nlohmann::ordered_json& object,
                                    const std::vector<std::string_view>& order);

// Sorts an object's keys, as Go does when it encodes a map.
nlohmann::ordered_json sorted_map(const nlohmann::ordered_json& object);

// ---- cancellation and signals ------------------------------------------------------------------

// A one-way latch readable as a file descriptor, so a blocking HTTP request, a sleep and a wait
// for a child can all be woken by it (http_request's cancel_fd). Safe to fire from a signal
// handler (it only write()s to a pipe).
class Latch {
 public:
  Latch();
  ~Latch();
  Latch(const Latch&) = delete;
  Latch& operator=(const Latch&) = delete;

  void fire();
  bool fired() const;
  int fd() const { return read_fd_; }
  // Sleeps for `d` unless the latch fires first; returns false when it fired.
  bool sleep_for(std::chrono::milliseconds d) const;

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// Routes SIGINT and SIGTERM to `shutdown` (for the life of the process) and, while a child runs,
// forwards them to the child's process group as well (Consul's commands forward signals to
// their child). Returns the signal that arrived last, or 0.
void install_shutdown_signals(Latch& shutdown);
int last_shutdown_signal();

// ---- child processes ---------------------------------------------------------------------------

struct ChildSpec {
  // Run through `$SHELL -c` (or /bin/sh when SHELL is unset), the words joined with spaces, as
  // Consul's -shell=true does; otherwise argv[0] is looked up on PATH and run directly.
  std::vector<std::string> words;
  bool shell = true;
  std::vector<std::string> extra_env;  // "NAME=value", added to ours
  // stdin: this data (from an in-memory file, so a child that never reads it cannot block us),
  // our own stdin when pass_stdin, /dev/null otherwise.
  std::optional<std::string> stdin_data;
  bool pass_stdin = false;
};

// A child started in its own process group, so that signals reach everything it started (a
// `sh -c` script's own children included), not only the shell.
class Child {
 public:
  static Result<Child> start(const ChildSpec& spec);
  Child(Child&& other) noexcept : pid_(other.pid_), status_(other.status_) { other.pid_ = -1; }
  Child& operator=(Child&&) = delete;
  Child(const Child&) = delete;
  ~Child();

  pid_t pid() const { return pid_; }
  // Signals the child's process group.
  void signal(int sig) const;
  // Waits until the child exits, one of the `wake` latches fires or `limit` passes; returns
  // the exit status (waitpid's), or nullopt when woken or timed out first.
  std::optional<int> wait(std::vector<const Latch*> wake = {},
                          std::optional<std::chrono::milliseconds> limit = std::nullopt);
  bool exited() const { return pid_ < 0 || status_.has_value(); }
  std::optional<int> status() const { return status_; }

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Go's (*exec.ExitError).Error() for a waitpid status: "exit status 3", "signal: terminated".
// Empty for a clean exit.
std::string go_exit_error(int status);

}  // namespace praetor::cmd
