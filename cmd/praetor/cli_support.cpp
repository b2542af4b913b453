#include "cmd/praetor/cli_support.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace praetor::cmd {

using ojson = nlohmann::ordered_json;

// ---- JSON
// ----------------------------------------------------------------------------------------

std::string go_json_string(std::string_view text) {
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '<':
      case '>':
      case '&':
        out += fmt::format("\\u{:04x}", c);
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else if (c == 0xE2 && i + 2 < text.size() &&
                   static_cast<unsigned char>(text[i + 1]) == 0x80 &&
                   (static_cast<unsigned char>(text[i + 2]) == 0xA8 ||
                    static_cast<unsigned char>(text[i + 2]) == 0xA9)) {
          out += static_cast<unsigned char>(text[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
          i += 2;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

namespace {

void write_go_json(const ojson& v, int indent, int depth, std::string& out) {
  const auto newline = [&](int level) {
    if (indent == 0) return;
    out += '\n';
    out.append(static_cast<std::size_t>(indent * level), ' ');
  };
  if (v.is_object()) {
    if (v.empty()) {
      out += "{}";
      return;
    }
    out += '{';
    bool first = true;
    for (const auto& [key, item] : v.items()) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      out += go_json_string(key);
      out += indent > 0 ? ": " : ":";
      write_go_json(item, indent, depth + 1, out);
    }
    newline(depth);
    out += '}';
  } else if (v.is_array()) {
    if (v.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    bool first = true;
    for (const auto& item : v) {
      if (!first) out += ',';
      first = false;
      newline(depth + 1);
      write_go_json(item, indent, depth + 1, out);
    }
    newline(depth);
    out += ']';
  } else if (v.is_string()) {
    out += go_json_string(v.get_ref<const std::string&>());
  } else {
    out += v.dump();  // numbers, booleans, null
  }
}

}  // namespace

std::string go_json(const ojson& value, int indent) {
  std::string out;
  write_go_json(value, indent, 0, out);
  return out;
}

ojson order_fields(const ojson& object, const std::vector<std::string_view>& order) {
  if (!object.is_object()) return object;
  ojson out = ojson::object();
  for (const auto name : order) {
    const auto it = object.find(std::string(name));
    if (it != object.end()) out[std::string(name)] = *it;
  }
  for (const auto& [key, item] : object.items()) {
    if (!out.contains(key)) out[key] = item;
  }
  return out;
}

ojson sorted_map(const ojson& object) {
  if (!object.is_object()) return object;
  std::vector<std::string> keys;
  for (const auto& [key, item] : object.items()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  ojson out = ojson::object();
  for (const auto& k : keys) out[k] = object.at(k);
  return out;
}

// ---- Latch and signals -------------------------------------------------------------------------

namespace {

void make_pipe(int& read_fd, int& write_fd) {
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    fmt::print(stderr, "pipe: {}\n", std::strerror(errno));
    std::abort();  // out of descriptors at start-up: nothing sensible to do
  }
  read_fd = fds[0];
  write_fd = fds[1];
}

// Poll one or two descriptors for readability; -1 entries are ignored by poll().
int poll_readable(int a, int b, int timeout_ms) {
  pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
  while (true) {
    const int n = ::poll(p, 2, timeout_ms);
    if (n >= 0 || errno != EINTR) return n;
  }
}

}  // namespace

Latch::Latch() { make_pipe(read_fd_, write_fd_); }

Latch::~Latch() {
  ::close(read_fd_);
  ::close(write_fd_);
}

void Latch::fire() {
  // The byte is never read: the pipe stays readable, so every later poll sees the latch fired.
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = ::write(write_fd_, &byte, 1);
}

bool Latch::fired() const { return poll_readable(read_fd_, -1, 0) > 0; }

bool Latch::sleep_for(std::chrono::milliseconds d) const {
  return poll_readable(read_fd_, -1, static_cast<int>(d.count())) == 0;
}

namespace {

Latch* g_shutdown = nullptr;
std::atomic<int> g_last_signal{0};
std::atomic<pid_t> g_child_group{0};
int g_sigchld_read = -1;
int g_sigchld_write = -1;

extern "C" void on_shutdown_signal(int sig) {
  const int saved_errno = errno;
  g_last_signal.store(sig);
  if (const pid_t group = g_child_group.load(); group > 0) ::kill(-group, sig);
  if (g_shutdown != nullptr) g_shutdown->fire();
  errno = saved_errno;
}

extern "C" void on_sigchld(int) {
  const int saved_errno = errno;
  const char byte = 1;
  [[maybe_unused]] const ssize_t n = ::write(g_sigchld_write, &byte, 1);
  errno = saved_errno;
}

void install_sigchld() {
  if (g_sigchld_read >= 0) return;
  make_pipe(g_sigchld_read, g_sigchld_write);
  struct sigaction sa {};
  sa.sa_handler = on_sigchld;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  ::sigaction(SIGCHLD, &sa, nullptr);
}

void drain(int fd) {
  char buf[64];
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
}

}  // namespace

void install_shutdown_signals(Latch& shutdown) {
  g_shutdown = &shutdown;
  struct sigaction sa {};
  sa.sa_handler = on_shutdown_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

int last_shutdown_signal() { return g_last_signal.load(); }

// ---- children
// ------------------------------------------------------------------------------------

Result<Child> Child::start(const ChildSpec& spec) {
  install_sigchld();
  std::vector<std::string> argv_store;
  if (spec.shell) {
    const char* shell = std::getenv("SHELL");
    argv_store = {shell != nullptr && *shell != '\0' ? shell : "/bin/sh", "-c"};
    std::string script;
    for (const auto& w : spec.words) script += (script.empty() ? "" : " ") + w;
    argv_store.push_back(script);
  } else {
    argv_store = spec.words;
  }
  if (argv_store.empty()) return make_error(ErrorCode::kInvalidArgument, "no command to run");
  std::vector<char*> argv;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_store;
  for (char** e = environ; *e != nullptr; ++e) env_store.emplace_back(*e);
  env_store.insert(env_store.end(), spec.extra_env.begin(), spec.extra_env.end());
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  int stdin_fd = -1;
  if (spec.stdin_data) {
    // An in-memory file rather than a pipe: the whole input is there at once, and a handler
    // that exits without reading it cannot leave us blocked in write().
    stdin_fd = ::memfd_create("praetor-stdin", MFD_CLOEXEC);
    if (stdin_fd < 0) return make_error(ErrorCode::kIo, std::strerror(errno));
    std::string_view left = *spec.stdin_data;
    while (!left.empty()) {
      const ssize_t n = ::write(stdin_fd, left.data(), left.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ::close(stdin_fd);
        return make_error(ErrorCode::kIo, std::strerror(errno));
      }
      left.remove_prefix(static_cast<std::size_t>(n));
    }
    ::lseek(stdin_fd, 0, SEEK_SET);
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
  } else if (!spec.pass_stdin) {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP}) sigaddset(&defaults, sig);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (stdin_fd >= 0) ::close(stdin_fd);
  if (rc != 0) {
    // Go's exec error text: `exec: "name": executable file not found in $PATH`.
    if (rc == ENOENT) {
      return make_error(ErrorCode::kNotFound,
                        fmt::format("exec: \"{}\": executable file not found in $PATH", argv[0]));
    }
    return make_error(ErrorCode::kIo, fmt::format("fork/exec {}: {}", argv[0], std::strerror(rc)));
  }
  g_child_group.store(pid);
  return Child(pid);
}

Child::~Child() {
  // A child must never outlive the command that runs it unnoticed: if the caller forgot it, it
  // is killed and reaped here.
  if (pid_ > 0 && !status_) {
    signal(SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (pid_ > 0 && g_child_group.load() == pid_) g_child_group.store(0);
}

void Child::signal(int sig) const {
  if (pid_ > 0 && !status_) ::kill(-pid_, sig);
}

std::optional<int> Child::wait(std::vector<const Latch*> wake,
                               std::optional<std::chrono::milliseconds> limit) {
  const auto any_fired = [&wake] {
    return std::any_of(wake.begin(), wake.end(), [](const Latch* l) { return l->fired(); });
  };
  const auto deadline = limit ? std::chrono::steady_clock::now() + *limit
                              : std::chrono::steady_clock::time_point::max();
  while (!status_) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = status;
      if (g_child_group.load() == pid_) g_child_group.store(0);
      break;
    }
    if (r < 0 && errno != EINTR) {  // not our child any more: treat as gone
      status_ = 0;
      break;
    }
    int timeout_ms = -1;
    if (limit) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      timeout_ms = static_cast<int>(left.count());
    }
    // A SIGCHLD that lands between waitpid and poll has already written its byte: no lost wake.
    std::vector<pollfd> fds = {{g_sigchld_read, POLLIN, 0}};
    for (const Latch* l : wake) fds.push_back({l->fd(), POLLIN, 0});
    int n = 0;
    do {
      n = ::poll(fds.data(), fds.size(), timeout_ms);
    } while (n < 0 && errno == EINTR);
    drain(g_sigchld_read);
    if (n > 0 && any_fired()) {
      // Report an exit that raced with the wake-up before giving up.
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        status_ = status;
        break;
      }
      return std::nullopt;
    }
  }
  return status_;
}

std::string go_exit_error(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status) == 0 ? "" : fmt::format("exit status {}", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    std::string name = ::strsignal(WTERMSIG(status));
    if (!name.empty())
      name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
    return "signal: " + name;
  }
  return fmt::format("wait status {}", status);
}

}  // namespace praetor::cmd
