// Transcript tests of the simulated network: commands drive a three-node world (n1, n2 in
// shenzhen, n3 in foshan) and each command's output is the trace it produced.
#include "tests/support/transcript.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <sstream>

#include "core/base/duration.hpp"
#include "sim/world.hpp"
#include "tests/sim/test_processes.hpp"

namespace praetor::sim {
namespace {

std::vector<std::string> words(std::string_view line) {
  std::istringstream in{std::string(line)};
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// Splits "a b | c" into {a, b} and {c}.
std::pair<NodeSet, NodeSet> sides(const std::vector<std::string>& w, std::size_t from,
                                  std::string_view bar) {
  std::pair<NodeSet, NodeSet> out;
  bool right = false;
  for (std::size_t i = from; i < w.size(); ++i) {
    if (w[i] == bar) {
      right = true;
    } else {
      (right ? out.second : out.first).push_back(w[i]);
    }
  }
  return out;
}

class NetworkTranscript {
 public:
  NetworkTranscript() : world_(1) {
    world_.trace().set_keep(true);
    LinkConfig link;
    link.latency = Duration::milliseconds(10);
    world_.network().set_default_link(link);
    const char* dcs[] = {"shenzhen", "shenzhen", "foshan"};
    for (int i = 1; i <= 3; ++i) {
      NodeOptions o;
      o.name = fmt::format("n{}", i);
      o.datacenter = dcs[i - 1];
      o.addresses = {fmt::format("10.0.0.{}", i)};
      world_.add_process(o, [] { return std::make_unique<testing::Recorder>(); });
    }
  }

  std::string handle(std::string_view command) {
    std::vector<std::string> w = words(command);
    std::string error = apply(w);
    if (!error.empty()) return "error: " + error;
    std::string out;
    for (const auto& line : world_.trace().take_kept()) out += line + "\n";
    if (w[0].rfind("partition", 0) == 0 || w[0] == "heal") {
      out += "cuts: " + world_.network().describe_cuts() + "\n";
    }
    return out.empty() ? "ok" : out;
  }

 private:
  std::string apply(const std::vector<std::string>& w) {
    if (w.empty()) return "empty command";
    SimNetwork& net = world_.network();
    const std::string& verb = w[0];
    if (verb == "send" && w.size() == 4) {
      std::size_t to = world_.index_of(w[2]);
      world_.inject_frame(w[1], node::Endpoint{fmt::format("10.0.0.{}", to + 1), 8300},
                          node::Channel::kRpc, to_bytes(w[3]));
    } else if (verb == "run" && w.size() == 2) {
      Result<Duration> d = parse_go_duration(w[1]);
      if (!d) return d.error().message;
      world_.run_for(*d);
    } else if (verb == "partition") {
      auto [a, b] = sides(w, 1, "|");
      net.partition_datacenters(a, b);
    } else if (verb == "partition-nodes") {
      auto [a, b] = sides(w, 1, "|");
      net.partition(a, b);
    } else if (verb == "partition-one-way") {
      auto [a, b] = sides(w, 1, ">");
      net.partition_one_way(a, b);
    } else if (verb == "heal" && w.size() == 1) {
      net.heal();
    } else if (verb == "clog" && w.size() == 3) {
      Result<Duration> d = parse_go_duration(w[2]);
      if (!d) return d.error().message;
      net.clog(w[1], world_.now() + *d);
    } else if (verb == "link" && w.size() == 3) {
      LinkConfig link = net.default_link();
      if (w[1] == "duplicate") link.duplicate = std::stod(w[2]);
      if (w[1] == "loss") link.loss = std::stod(w[2]);
      net.set_default_link(link);
    } else {
      return "unknown command";
    }
    return std::string();
  }

  World world_;
};

TEST(SimTranscriptTest, Network) {
  NetworkTranscript t;
  test::expect_transcript(std::string(PRAETOR_SIM_TESTDATA) + "/network.txt",
                          [&](std::string_view cmd) { return t.handle(cmd); });
}

}  // namespace
}  // namespace praetor::sim
