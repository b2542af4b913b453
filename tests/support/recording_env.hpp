// An Env that records every effect as data: the agent unit tests, the HTTP transcript tests and
// the agent fuzz target drive an Agent through it with no host at all. Header-only and free of
// gtest, so the fuzz target can use it too.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <vector>

#include "core/node/env.hpp"
#include "core/node/process.hpp"

namespace praetor::node {

class RecordingEnv : public Clock,
                     public Network,
                     public Storage,
                     public Timer,
                     public Exec,
                     public Responder,
                     public Control {
 public:
  Instant now() const override {
    // Lets a test make the agent's code throw where it reads the clock, to check that one
    // request's exception is answered and contained.
    if (throw_from_now) throw std::runtime_error("the test's clock threw");
    return now_;
  }
  WallTime wall() const override { return WallTime{1'700'000'000'000'000'000}; }
  void send(const Endpoint& to, Channel channel, Bytes payload) override {
    ++sent;
    // DNS frames are kept for the tests to read (gossip and RPC only counted: they are many).
    if (channel == Channel::kDns || channel == Channel::kDnsStream) {
      dns_frames.push_back(Frame{to, channel, std::move(payload)});
    }
  }
  void write(WriteBatch batch, Ticket ticket) override {
    writes.push_back(batch);
    unsynced.emplace_back(ticket, std::move(batch));
  }
  // Makes every queued batch durable (applies it to `files`) and reports it, as a host would.
  void sync_all(Process& process) {
    while (!unsynced.empty()) {
      auto [ticket, batch] = std::move(unsynced.front());
      unsynced.pop_front();
      for (const auto& op : batch.ops) apply_write_op(files, op);
      process.on_written(ticket, ok());
    }
  }
  Result<StoredFiles> recover() override { return files; }
  void wake_at(Instant at) override { wake = at; }
  void run(CheckRunId id, ExecSpec spec) override { runs.emplace_back(id, std::move(spec)); }
  void respond(RequestId id, HttpResponse response) override {
    responses[id] = std::move(response);
  }
  void shutdown(int code) override { exit_code = code; }
  void request_reload() override { ++reloads; }

  Env env() { return Env{*this, *this, *this, *this, *this, *this, *this, logger, 42}; }

  Instant now_ = Instant::from_ns(1'000'000'000);
  Instant wake = Instant::never();
  StoredFiles files;
  std::vector<WriteBatch> writes;
  std::deque<std::pair<Ticket, WriteBatch>> unsynced;
  std::map<RequestId, HttpResponse> responses;
  std::vector<std::pair<CheckRunId, ExecSpec>> runs;  // check runs started and not finished
  std::optional<int> exit_code;
  int sent = 0;
  struct Frame {
    Endpoint to;
    Channel channel;
    Bytes payload;
  };
  std::vector<Frame> dns_frames;
  int reloads = 0;
  bool throw_from_now = false;
  NullLogger logger;
};

}  // namespace praetor::node
