#include "io/uv_exec.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <vector>

#include "io/sockaddr.hpp"

extern char** environ;

namespace praetor::io {
namespace {

constexpr std::size_t kPipeReadBytes = 16 * 1024;
// After the child exits, how long its pipe may stay open (held by a grandchild that escaped the
// group) before we stop reading it.
constexpr std::uint64_t kPipeDrainGraceMs = 500;

// glibc 2.36 declares pidfd_open only in <sys/pidfd.h>, which older toolchains lack; the system
// call itself is in every kernel since 5.3.
int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

// posix_spawn's attributes and file actions, destroyed on every path out of run().
struct SpawnSetup {
  posix_spawnattr_t attr{};
  posix_spawn_file_actions_t actions{};
  SpawnSetup() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

void OutputTail::append(std::string_view data) {
  buffer_.append(data);
  // Trim lazily (at twice the cap) so a chatty child costs amortised O(1) per byte.
  if (buffer_.size() > 2 * max_bytes_ + kPipeReadBytes) {
    buffer_.erase(0, buffer_.size() - max_bytes_);
  }
}

std::string OutputTail::take() {
  if (buffer_.size() > max_bytes_) buffer_.erase(0, buffer_.size() - max_bytes_);
  return std::move(buffer_);
}

struct UvExec::Child {
  Child(UvExec* e, CheckRunId i, std::size_t max_output) : exec(e), id(i), tail(max_output) {}
  ~Child() {
    if (pidfd >= 0) ::close(pidfd);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  UvExec* exec;
  CheckRunId id;
  uv_pipe_t out{};
  uv_poll_t exit_watch{};  // the pidfd: readable once the child has exited
  uv_timer_t timer{};
  OutputTail tail;
  int open_handles = 0;
  pid_t pid = 0;
  int pidfd = -1;
  bool exited = false;
  bool out_open = false;
  bool watching = false;
  bool finished = false;
  node::ExecResult result;
};

UvExec::UvExec(uv_loop_t* loop, Logger& logger, ExecCompletion completion)
    : loop_(loop),
      logger_(logger),
      completion_(completion),
      probes_(loop, logger, completion),
      read_buffer_(kPipeReadBytes) {}

UvExec::~UvExec() { PRAETOR_ASSERT_MSG(closed(), "UvExec destroyed with children running"); }

void UvExec::run(CheckRunId id, node::ExecSpec spec) {
  PRAETOR_ASSERT(!closing_);
  if (spec.kind != node::ExecSpec::Kind::kArgs) return probes_.run(id, std::move(spec));
  auto* c = new Child(this, id, spec.output_max_bytes);
  children_.insert(c);
  uv_timer_init(loop_, &c->timer);
  c->timer.data = c;
  c->open_handles = 1;
  if (spec.args.empty()) return fail_start(*c, EINVAL, "(no command)");

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_start(*c, errno, spec.args[0]);
  SpawnSetup setup;
  // Standard input is /dev/null; stdout and stderr are the pipe's write end (dup2 clears
  // O_CLOEXEC on the copies, the originals close at exec).
  posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&setup.actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&setup.actions, fds[1], 2);
  // The agent ignores SIGPIPE and libuv may block signals; a check must start with the defaults,
  // as it would from a shell.
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&setup.attr, &all);
  posix_spawnattr_setsigmask(&setup.attr, &none);
  posix_spawnattr_setflags(&setup.attr,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> argv;
  for (auto& a : spec.args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0], &setup.actions, &setup.attr, argv.data(), environ);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return fail_start(*c, rc, spec.args[0]);
  }
  c->pid = pid;
  c->pidfd = open_pidfd(pid);
  if (c->pidfd < 0) {
    // Without a pidfd the exit cannot be watched on the loop (a kernel before 5.3, or a seccomp
    // filter): give the child up rather than leave it unwatched.
    int error = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);  // SIGKILL was sent: this returns at once
    ::close(fds[0]);
    return fail_start(*c, error, spec.args[0]);
  }
  uv_poll_init(loop_, &c->exit_watch, c->pidfd);
  c->exit_watch.data = c;
  ++c->open_handles;
  c->watching = true;
  uv_poll_start(&c->exit_watch, UV_READABLE, on_exit_readable);

  uv_pipe_init(loop_, &c->out, 0);
  c->out.data = c;
  ++c->open_handles;
  c->out_open = true;
  int open_rc = uv_pipe_open(&c->out, fds[0]);
  if (open_rc != 0) {
    ::close(fds[0]);
    logger_.warn("agent", "check {}: cannot read its output: {}", id, uv_message(open_rc));
    close_pipe(*c);
  } else {
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->out), on_alloc, on_read);
  }
  auto timeout_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(spec.timeout.count_ms(), 1));
  uv_timer_start(&c->timer, on_timeout, timeout_ms, 0);
}

void UvExec::fail_start(Child& c, int error, const std::string& program) {
  logger_.warn("agent", "check {}: cannot run {}: {}", c.id, program, std::strerror(error));
  c.exited = true;
  c.result.spawn_failed = true;
  c.result.exit_code = -1;
  c.tail.append(fmt::format("failed to start: {}", std::strerror(error)));
  finish(c);  // delivered from the close callbacks, i.e. after run() returns
}

void UvExec::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* c = static_cast<Child*>(handle->data);
  auto& buffer = c->exec->read_buffer_;
  *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
}

void UvExec::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Child*>(stream->data);
  if (nread > 0) {
    c->tail.append(std::string_view(buf->base, static_cast<std::size_t>(nread)));
    return;
  }
  if (nread == 0) return;
  c->exec->close_pipe(*c);
  c->exec->maybe_finish(*c);
}

void UvExec::on_exit_readable(uv_poll_t* poll, int /*status*/, int /*events*/) {
  auto* c = static_cast<Child*>(poll->data);
  c->exec->reap(*c);
}

void UvExec::reap(Child& c) {
  int status = 0;
  pid_t got = ::waitpid(c.pid, &status, WNOHANG);
  if (got == 0) return;  // not yet (a spurious wake-up)
  c.exited = true;
  c.result.exit_code = got == c.pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (c.watching) {
    c.watching = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&c.exit_watch), on_handle_closed);
  }
  if (c.out_open) {
    // Give the pipe a moment to drain; a grandchild may hold it open indefinitely.
    uv_timer_start(&c.timer, on_timeout, kPipeDrainGraceMs, 0);
  }
  maybe_finish(c);
}

void UvExec::on_timeout(uv_timer_t* timer) {
  auto* c = static_cast<Child*>(timer->data);
  if (c->finished) return;
  if (!c->exited) {
    c->result.timed_out = true;
    c->exec->logger_.debug("agent", "check {} timed out; killing process group {}", c->id, c->pid);
    ::kill(-c->pid, SIGKILL);  // the exit then shows on the pidfd
    return;
  }
  // Exited, but something still holds the pipe: kill what is left of the group and stop reading.
  ::kill(-c->pid, SIGKILL);
  c->exec->close_pipe(*c);
  c->exec->maybe_finish(*c);
}

void UvExec::close_pipe(Child& c) {
  if (!c.out_open) return;
  c.out_open = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&c.out), on_handle_closed);
}

void UvExec::maybe_finish(Child& c) {
  if (c.finished || !c.exited || c.out_open) return;
  finish(c);
}

void UvExec::finish(Child& c) {
  c.finished = true;
  c.result.output = c.tail.take();
  uv_timer_stop(&c.timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), on_handle_closed);
  close_pipe(c);
  if (c.watching) {
    c.watching = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&c.exit_watch), on_handle_closed);
  }
}

void UvExec::on_handle_closed(uv_handle_t* handle) {
  auto* c = static_cast<Child*>(handle->data);
  if (--c->open_handles > 0) return;
  UvExec* exec = c->exec;
  exec->children_.erase(c);
  std::unique_ptr<Child> owned(c);
  if (c->finished && !exec->closing_) exec->completion_(c->id, std::move(c->result));
}

void UvExec::close() {
  if (closing_) return;
  closing_ = true;
  probes_.close();
  std::vector<Child*> running(children_.begin(), children_.end());
  for (Child* c : running) {
    if (c->finished) continue;
    if (!c->exited && c->pid > 0) {
      ::kill(-c->pid, SIGKILL);
      ::waitpid(c->pid, nullptr, WNOHANG);  // reaped now if already dead; else init will
      c->exited = true;
    }
    finish(*c);
  }
}

}  // namespace praetor::io
