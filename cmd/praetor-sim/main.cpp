// praetor-sim: runs simulator scenarios by seed.
//
//   praetor-sim --list
//   praetor-sim run --scenario kv-smoke --seed N [--trace] [--steps M]
//   praetor-sim sweep --scenario kv-smoke --seeds 1000 [--start S]
//   praetor-sim run --scenario gossip-scale --nodes 10000 --seed 1
//
// --nodes N and --minutes M reach the scenarios that scale (the gossip ones); others ignore them.
//
// `run` ends with "seed=N trace=<16 hex> verdict=pass|fail"; a failure also prints its reasons and
// the command that replays it. Exit status: 0 pass, 1 fail, 2 usage error.
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/scenario.hpp"

namespace {

using praetor::sim::Scenario;
using praetor::sim::ScenarioOptions;
using praetor::sim::ScenarioResult;

constexpr std::string_view kUsage =
    "usage:\n"
    "  praetor-sim --list\n"
    "  praetor-sim run --scenario NAME --seed N [--trace] [--steps M]\n"
    "  praetor-sim sweep --scenario NAME --seeds COUNT [--start S]\n"
    "  (run and sweep also take --nodes N and --minutes M for the scenarios that scale)\n";

struct Args {
  std::string command;
  std::string scenario;
  std::optional<std::uint64_t> seed;
  std::uint64_t seeds = 100;
  std::uint64_t start = 1;
  std::uint64_t steps = 0;
  std::uint64_t nodes = 0;
  std::uint64_t minutes = 0;
  bool trace = false;
  bool list = false;
};

bool parse_u64(std::string_view text, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

std::optional<Args> parse_args(int argc, char** argv) {
  Args args;
  std::vector<std::string_view> v(argv + 1, argv + argc);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::string_view a = v[i];
    auto number = [&](std::uint64_t& out) {
      if (i + 1 >= v.size() || !parse_u64(v[i + 1], out)) {
        fmt::print(stderr, "{} needs a number\n", a);
        return false;
      }
      ++i;
      return true;
    };
    if (a == "--list") {
      args.list = true;
    } else if (a == "--trace") {
      args.trace = true;
    } else if (a == "--scenario") {
      if (i + 1 >= v.size()) return std::nullopt;
      args.scenario = std::string(v[++i]);
    } else if (a == "--seed") {
      std::uint64_t s = 0;
      if (!number(s)) return std::nullopt;
      args.seed = s;
    } else if (a == "--seeds") {
      if (!number(args.seeds)) return std::nullopt;
    } else if (a == "--start") {
      if (!number(args.start)) return std::nullopt;
    } else if (a == "--steps") {
      if (!number(args.steps)) return std::nullopt;
    } else if (a == "--nodes") {
      if (!number(args.nodes)) return std::nullopt;
    } else if (a == "--minutes") {
      if (!number(args.minutes)) return std::nullopt;
    } else if (args.command.empty() && (a == "run" || a == "sweep" || a == "list")) {
      args.command = std::string(a);
      if (a == "list") args.list = true;
    } else {
      fmt::print(stderr, "unknown argument {}\n", a);
      return std::nullopt;
    }
  }
  return args;
}

void print_failure(const Scenario& s, std::uint64_t seed, const ScenarioResult& r,
                   const Args& args) {
  for (const auto& f : r.failures) fmt::print("failure: {}\n", f);
  std::string extra;
  if (args.nodes != 0) extra += fmt::format(" --nodes {}", args.nodes);
  if (args.minutes != 0) extra += fmt::format(" --minutes {}", args.minutes);
  fmt::print("replay: praetor-sim run --scenario {} --seed {}{}\n", s.name, seed, extra);
}

int run_one(const Scenario& s, const Args& args) {
  ScenarioOptions options;
  options.seed = *args.seed;
  options.max_steps = args.steps;
  options.nodes = args.nodes;
  options.minutes = args.minutes;
  options.trace_out = args.trace ? stdout : nullptr;
  ScenarioResult r = s.run(options);
  fmt::print("faults: {}\n", r.faults);
  fmt::print("result: {} steps={} end={}\n", r.summary, r.steps, r.end);
  if (!r.pass) print_failure(s, options.seed, r, args);
  fmt::print("seed={} trace={} verdict={}\n", options.seed, praetor::sim::format_hash(r.trace_hash),
             r.pass ? "pass" : "fail");
  return r.pass ? 0 : 1;
}

int sweep(const Scenario& s, const Args& args) {
  for (std::uint64_t i = 0; i < args.seeds; ++i) {
    std::uint64_t seed = args.start + i;
    ScenarioOptions options;
    options.seed = seed;
    options.max_steps = args.steps;
    options.nodes = args.nodes;
    options.minutes = args.minutes;
    ScenarioResult r = s.run(options);
    if (!r.pass) {
      fmt::print("faults: {}\nresult: {}\n", r.faults, r.summary);
      print_failure(s, seed, r, args);
      fmt::print("seed={} trace={} verdict=fail\n", seed, praetor::sim::format_hash(r.trace_hash));
      fmt::print("sweep: {} of {} seeds passed before the failure\n", i, args.seeds);
      return 1;
    }
    if ((i + 1) % 100 == 0) fmt::print("sweep: {} seeds pass (last {})\n", i + 1, seed);
  }
  fmt::print("sweep: all {} seeds pass ({}..{}) verdict=pass\n", args.seeds, args.start,
             args.start + args.seeds - 1);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Args> args = parse_args(argc, argv);
  if (!args) {
    fmt::print(stderr, "{}", kUsage);
    return 2;
  }
  if (args->list) {
    for (const auto& s : praetor::sim::scenarios()) {
      fmt::print("{:<28} {}{}\n", s.name, s.description,
                 s.expect_failures ? " (expected to fail)" : "");
    }
    return 0;
  }
  const Scenario* s = praetor::sim::find_scenario(args->scenario);
  if (args->command.empty() || s == nullptr) {
    if (s == nullptr && !args->scenario.empty()) {
      fmt::print(stderr, "unknown scenario {} (see --list)\n", args->scenario);
    }
    fmt::print(stderr, "{}", kUsage);
    return 2;
  }
  if (args->command == "run") {
    if (!args->seed) {
      fmt::print(stderr, "run needs --seed\n{}", kUsage);
      return 2;
    }
    return run_one(*s, *args);
  }
  return sweep(*s, *args);
}
