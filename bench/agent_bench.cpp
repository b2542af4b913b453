// The agent's request path without I/O: an HttpRequest in, an HttpResponse out, through routing,
// the commit path and JSON rendering. What io/ adds on top is measured separately (wrk).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "core/node/agent.hpp"

namespace praetor::node {
namespace {

class BenchEnv : public Clock, public Network, public Storage, public Timer, public Exec,
                 public Responder, public Control {
 public:
  Instant now() const override { return Instant::from_ns(1); }
  WallTime wall() const override { return {}; }
  void send(const Endpoint&, Channel, Bytes frame) override { last_frame = std::move(frame); }
  void write(WriteBatch, Ticket) override {}
  Result<StoredFiles> recover() override { return StoredFiles{}; }
  void wake_at(Instant) override {}
  void run(CheckRunId, ExecSpec) override {}
  void respond(RequestId, HttpResponse response) override { last = std::move(response); }
  void shutdown(int) override {}
  void request_reload() override {}
  HttpResponse last;
  Bytes last_frame;
  NullLogger logger;
};

HttpRequest request(std::string method, std::string path, std::string body = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.body = std::move(body);
  return r;
}

// One measured request, out of line: `valgrind --tool=callgrind --collect-atstart=no
// --toggle-collect='*measured_request*'` counts the instructions of these requests alone, not the
// catalog's registration.
[[gnu::noinline]] void measured_request(Agent& agent, RequestId id, HttpRequest r) {
  agent.on_client_request(id, std::move(r));
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
    measured_request(agent, RequestId(id),
                     request("GET", "/v1/kv/key/" + std::to_string(id % 1000)));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AgentKvGet);

// The catalog of bench/catalog_scale.sh (catalog_register.py), registered through the API: each
// node has five services with a passing check each; the first `hot` nodes carry "hot", so
// /v1/health/service/hot has `hot` entries of the same shape as the HTTP benchmark's.
void register_catalog(Agent& agent, BenchEnv& host, int nodes, int hot) {
  std::uint64_t id = 1'000'000'000;
  for (int i = 0; i < nodes; ++i) {
    const std::string node = fmt::format("node-{:05d}", i);
    const std::string address =
        fmt::format("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    const std::string names[] = {i < hot ? std::string("hot") : fmt::format("alpha-{}", i % 10),
                                 fmt::format("beta-{}", i % 20), fmt::format("gamma-{}", i % 50),
                                 fmt::format("delta-{}", i % 100),
                                 fmt::format("epsilon-{}", i % 1000)};
    for (int k = 1; k <= 5; ++k) {
      const std::string& name = names[k - 1];
      const std::string sid = fmt::format("{}-{:05d}", name, i);
      const std::string body = fmt::format(
          R"({{"Node":"{0}","Address":"{1}","NodeMeta":{{"rack":"rack-{2}"}},)"
          R"("Service":{{"ID":"{3}","Service":"{4}","Tags":["v1","rack-{2}"],"Address":"{1}",)"
          R"("Port":{5},"Meta":{{"version":"1.{6}"}}}},"Check":{{"CheckID":"service:{3}",)"
          R"("Name":"{4} alive","Status":"passing","ServiceID":"{3}","Output":"ok"}}}})",
          node, address, i % 8, sid, name, 8000 + k, i % 7);
      agent.on_client_request(RequestId(++id), request("PUT", "/v1/catalog/register", body));
      if (host.last.status != 200) std::abort();
    }
  }
}

// GET /v1/health/service/hot?passing over a catalog of state.range(0) nodes, 1,000 of them with
// an instance of "hot": issue 11's read (bench/catalog_scale.sh measures it over HTTP).
void BM_AgentHealthService(benchmark::State& state) {
  BenchEnv host;
  Env env{host, host, host, host, host, host, host, host.logger, 1};
  Agent agent(dev_defaults());
  agent.start(env);
  register_catalog(agent, host, static_cast<int>(state.range(0)), 1000);
  std::uint64_t id = 1;
  std::size_t bytes = 0;
  // One read first, outside the measurement: the steady state of many clients asking for the
  // same list is a rendered answer in the cache (BM_AgentHealthServiceUncached: without it).
  HttpRequest warm = request("GET", "/v1/health/service/hot");
  warm.query.emplace_back("passing", "");
  agent.on_client_request(RequestId(++id), std::move(warm));
  for (auto _ : state) {
    HttpRequest r = request("GET", "/v1/health/service/hot");
    r.query.emplace_back("passing", "");
    measured_request(agent, RequestId(++id), std::move(r));
    bytes = host.last.body.size();
  }
  if (host.last.status != 200) state.SkipWithError("health read failed");
  state.counters["body_bytes"] = static_cast<double>(bytes);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AgentHealthService)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

// The same read rendered every time: a parameter the handler ignores changes the render
// cache's key on each request (render_cache.hpp), so this is the cost of a cache miss.
void BM_AgentHealthServiceUncached(benchmark::State& state) {
  BenchEnv host;
  Env env{host, host, host, host, host, host, host, host.logger, 1};
  Agent agent(dev_defaults());
  agent.start(env);
  register_catalog(agent, host, static_cast<int>(state.range(0)), 1000);
  std::uint64_t id = 1;
  for (auto _ : state) {
    HttpRequest r = request("GET", "/v1/health/service/hot");
    r.query.emplace_back("passing", "");
    r.query.emplace_back("bench", std::to_string(id));
    measured_request(agent, RequestId(++id), std::move(r));
  }
  if (host.last.status != 200) state.SkipWithError("health read failed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AgentHealthServiceUncached)->Arg(1000)->Unit(benchmark::kMillisecond);

// The same catalog through /v1/catalog/service/hot (no checks in the answer).
void BM_AgentCatalogService(benchmark::State& state) {
  BenchEnv host;
  Env env{host, host, host, host, host, host, host, host.logger, 1};
  Agent agent(dev_defaults());
  agent.start(env);
  register_catalog(agent, host, static_cast<int>(state.range(0)), 1000);
  std::uint64_t id = 1;
  for (auto _ : state) {
    measured_request(agent, RequestId(++id), request("GET", "/v1/catalog/service/hot"));
  }
  if (host.last.status != 200) state.SkipWithError("catalog read failed");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AgentCatalogService)->Arg(1000)->Unit(benchmark::kMillisecond);

// DNS A lookups of svc-000 .. svc-099.service.consul., one instance each: bench/dns_vs_nsd.sh's
// catalog and queries, without the transport. One query measured out of line, as
// measured_request.
[[gnu::noinline]] void measured_dns(Agent& agent, const Endpoint& from, Bytes query) {
  agent.on_frame(from, Channel::kDns, std::move(query));
}

Bytes a_query(std::uint16_t id, const std::string& name) {
  Bytes q{static_cast<std::uint8_t>(id >> 8),
          static_cast<std::uint8_t>(id & 0xff),
          0x01,
          0x00,
          0,
          1,
          0,
          0,
          0,
          0,
          0,
          0};
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<std::uint8_t>(dot - start));
    q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
             name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});  // root, type A, class IN
  return q;
}

// state.range(0) = 1: every query repeats one of 100 names (the benchmark's steady state, answers
// kept per D63); 0: each query spells its name in another mix of cases, so no kept answer fits
// and every query is decoded, looked up and encoded (the cost before D63).
void BM_AgentDnsA(benchmark::State& state) {
  BenchEnv host;
  Env env{host, host, host, host, host, host, host, host.logger, 1};
  Agent agent(dev_defaults());
  agent.start(env);
  std::uint64_t rid = 1'000'000'000;
  for (int i = 0; i < 100; ++i) {
    const std::string body = fmt::format(
        R"({{"Node":"node-{0:03d}","Address":"10.1.0.{0}","Service":{{"Service":"svc-{0:03d}",)"
        R"("Port":8080}}}})",
        i);
    agent.on_client_request(RequestId(++rid), request("PUT", "/v1/catalog/register", body));
    if (host.last.status != 200) std::abort();
  }
  const bool repeat = state.range(0) == 1;
  const Endpoint from{"127.0.0.1", 40000};
  std::uint64_t n = 0;
  for (auto _ : state) {
    ++n;
    std::string name = fmt::format("svc-{:03d}.service.consul", n % 100);
    if (!repeat) {
      std::uint64_t bits = n / 100;
      for (char& ch : name) {
        if (ch >= 'a' && ch <= 'z') {
          if ((bits & 1) != 0) ch = static_cast<char>(ch - 'a' + 'A');
          bits >>= 1;
        }
      }
    }
    measured_dns(agent, from, a_query(static_cast<std::uint16_t>(n), name));
  }
  // The last answer: NOERROR with one A record.
  if (host.last_frame.size() < 12 || (host.last_frame[3] & 0x0f) != 0 || host.last_frame[7] != 1) {
    state.SkipWithError("DNS lookup failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_AgentDnsA)->Arg(1)->Arg(0);

}  // namespace
}  // namespace praetor::node
