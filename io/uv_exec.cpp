#include "io/uv_exec.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <vector>

#include "io/sockaddr.hpp"

namespace praetor::io {
namespace {

constexpr std::size_t kPipeReadBytes = 16 * 1024;
// After the child exits, how long its pipes may stay open (held by a grandchild that escaped the
// group) before we stop reading them.
constexpr std::uint64_t kPipeDrainGraceMs = 500;

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
  Child(UvExec* e, CheckRunId i, std::size_t max_output)
      : exec(e), id(i), tail(max_output), buffer(kPipeReadBytes) {}
  UvExec* exec;
  CheckRunId id;
  uv_process_t process{};
  uv_pipe_t out{};
  uv_pipe_t err{};
  uv_timer_t timer{};
  OutputTail tail;
  std::vector<char> buffer;
  int open_handles = 0;
  int pid = 0;
  bool has_process = false;  // uv_spawn ran, so the process handle needs closing
  bool exited = false;
  bool out_open = false;
  bool err_open = false;
  bool finished = false;
  node::ExecResult result;
};

UvExec::UvExec(uv_loop_t* loop, Logger& logger, ExecCompletion completion)
    : loop_(loop), logger_(logger), completion_(completion), probes_(loop, logger, completion) {}

UvExec::~UvExec() { PRAETOR_ASSERT_MSG(closed(), "UvExec destroyed with children running"); }

void UvExec::run(CheckRunId id, node::ExecSpec spec) {
  PRAETOR_ASSERT(!closing_);
  if (spec.kind != node::ExecSpec::Kind::kArgs) return probes_.run(id, std::move(spec));
  auto* c = new Child(this, id, spec.output_max_bytes);
  children_.insert(c);
  uv_pipe_init(loop_, &c->out, 0);
  uv_pipe_init(loop_, &c->err, 0);
  uv_timer_init(loop_, &c->timer);
  c->out.data = c->err.data = c->timer.data = c->process.data = c;
  c->open_handles = 3;

  std::vector<char*> args;
  for (auto& a : spec.args) args.push_back(a.data());
  args.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&c->out);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&c->err);
  uv_process_options_t options{};
  options.exit_cb = on_exit;
  options.file = spec.args.empty() ? "" : spec.args[0].c_str();
  options.args = args.data();
  options.stdio_count = 3;
  options.stdio = stdio;
  options.flags = UV_PROCESS_DETACHED;  // setsid(): the child leads its own process group

  int rc = spec.args.empty() ? UV_EINVAL : uv_spawn(loop_, &c->process, &options);
  if (!spec.args.empty()) {
    c->has_process = true;  // uv_spawn initialises the handle even when it fails
    ++c->open_handles;
  }
  if (rc != 0) {
    logger_.warn("agent", "check {}: cannot run {}: {}", id,
                 spec.args.empty() ? std::string("(no command)") : spec.args[0], uv_message(rc));
    c->exited = true;
    c->result.spawn_failed = true;
    c->result.exit_code = -1;
    c->tail.append(fmt::format("failed to start: {}", uv_strerror(rc)));
    finish(*c);  // delivered from the close callbacks, i.e. after run() returns
    return;
  }
  c->pid = c->process.pid;
  c->out_open = c->err_open = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->out), on_alloc, on_read);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->err), on_alloc, on_read);
  auto timeout_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(spec.timeout.count_ms(), 1));
  uv_timer_start(&c->timer, on_timeout, timeout_ms, 0);
}

void UvExec::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* c = static_cast<Child*>(handle->data);
  *buf = uv_buf_init(c->buffer.data(), static_cast<unsigned>(c->buffer.size()));
}

void UvExec::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Child*>(stream->data);
  if (nread > 0) {
    c->tail.append(std::string_view(buf->base, static_cast<std::size_t>(nread)));
    return;
  }
  if (nread == 0) return;
  bool is_out = stream == reinterpret_cast<uv_stream_t*>(&c->out);
  c->exec->close_pipe(*c, is_out ? c->out : c->err, is_out ? c->out_open : c->err_open);
  c->exec->maybe_finish(*c);
}

void UvExec::on_exit(uv_process_t* process, std::int64_t exit_status, int term_signal) {
  auto* c = static_cast<Child*>(process->data);
  c->exited = true;
  c->result.exit_code = term_signal != 0 ? -1 : static_cast<int>(exit_status);
  if (c->out_open || c->err_open) {
    // Give the pipes a moment to drain; a grandchild may hold them open indefinitely.
    uv_timer_start(&c->timer, on_timeout, kPipeDrainGraceMs, 0);
  }
  c->exec->maybe_finish(*c);
}

void UvExec::on_timeout(uv_timer_t* timer) {
  auto* c = static_cast<Child*>(timer->data);
  if (c->finished) return;
  if (!c->exited) {
    c->result.timed_out = true;
    c->exec->logger_.debug("agent", "check {} timed out; killing process group {}", c->id, c->pid);
    uv_kill(-c->pid, SIGKILL);
    return;
  }
  // Exited, but something still holds the pipes: kill what is left of the group and stop reading.
  uv_kill(-c->pid, SIGKILL);
  c->exec->close_pipe(*c, c->out, c->out_open);
  c->exec->close_pipe(*c, c->err, c->err_open);
  c->exec->maybe_finish(*c);
}

void UvExec::close_pipe(Child& /*child*/, uv_pipe_t& pipe, bool& open) {
  if (!open) return;
  open = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe), on_handle_closed);
}

void UvExec::maybe_finish(Child& c) {
  if (c.finished || !c.exited || c.out_open || c.err_open) return;
  finish(c);
}

void UvExec::finish(Child& c) {
  c.finished = true;
  c.result.output = c.tail.take();
  uv_timer_stop(&c.timer);
  auto close_if_open = [](uv_handle_t* h) {
    if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
  };
  close_if_open(reinterpret_cast<uv_handle_t*>(&c.timer));
  close_if_open(reinterpret_cast<uv_handle_t*>(&c.out));
  close_if_open(reinterpret_cast<uv_handle_t*>(&c.err));
  if (c.has_process) close_if_open(reinterpret_cast<uv_handle_t*>(&c.process));
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
    if (!c->exited && c->pid > 0) uv_kill(-c->pid, SIGKILL);
    c->out_open = c->err_open = false;
    c->finished = true;
    auto close_if_open = [](uv_handle_t* h) {
      if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
    };
    close_if_open(reinterpret_cast<uv_handle_t*>(&c->timer));
    close_if_open(reinterpret_cast<uv_handle_t*>(&c->out));
    close_if_open(reinterpret_cast<uv_handle_t*>(&c->err));
    if (c->has_process) close_if_open(reinterpret_cast<uv_handle_t*>(&c->process));
  }
}

}  // namespace praetor::io
