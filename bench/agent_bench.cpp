// The agent's request path without I/O: an HttpRequest in, an HttpResponse out, through routing,
// the commit path and JSON rendering. What io/ adds on top is measured separately (wrk).
#include <benchmark/benchmark.h>

#include "core/node/agent.hpp"

namespace praetor::node {
namespace {

class BenchEnv : public Clock, public Network, public Storage, public Timer, public Exec,
                 public Responder, public Control {
 public:
  Instant now() const override { return Instant::from_ns(1); }
  WallTime wall() const override { return {}; }
  void send(const Endpoint&, Channel, Bytes) override {}
  void write(WriteBatch, Ticket) override {}
  Result<StoredFiles> recover() override { return StoredFiles{}; }
  void wake_at(Instant) override {}
  void run(CheckRunId, ExecSpec) override {}
  void respond(RequestId, HttpResponse response) override { last = std::move(response); }
  void shutdown(int) override {}
  void request_reload() override {}
  HttpResponse last;
  NullLogger logger;
};

HttpRequest request(std::string method, std::string path, std::string body = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.body = std::move(body);
  return r;
}

void BM_AgentKvPut(benchmark::State& state) {
  BenchEnv host;
  Env env{host, host, host, host, host, host, host, host.logger, 1};
  Agent agent(dev_defaults());
  agent.start(env);
  std::uint64_t id = 0;
  const std::string value(256, 'v');
  for (auto _ : state) {
    ++id;
    agent.on_client_request(RequestId(id),
                            request("PUT", "/v1/kv/key/" + std::to_string(id % 1000), value));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AgentKvPut);

void BM_AgentKvGet(benchmark::State& state) {
  BenchEnv host;
  Env env{host, host, host, host, host, host, host, host.logger, 1};
  Agent agent(dev_defaults());
  agent.start(env);
  for (int i = 0; i < 1000; ++i) {
    agent.on_client_request(RequestId(1), request("PUT", "/v1/kv/key/" + std::to_string(i),
                                                  std::string(256, 'v')));
  }
  std::uint64_t id = 1;
  for (auto _ : state) {
    ++id;
    HttpRequest r = request("GET", "/v1/kv/key/" + std::to_string(id % 1000));
    agent.on_client_request(RequestId(id), std::move(r));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AgentKvGet);

}  // namespace
}  // namespace praetor::node
