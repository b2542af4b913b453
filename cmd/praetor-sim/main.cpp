// praetor-sim: runs simulator scenarios by seed.
//
//   praetor-sim --list [--scenarios-dir DIR]
//   praetor-sim run --scenario NAME --seed N [--trace] [--steps M] [--scenarios-dir DIR]
//   praetor-sim sweep --scenario NAME --seeds 1000 [--start S] [--scenarios-dir DIR]
//   praetor-sim run --scenario gossip-scale --nodes 10000 --seed 1
//
// NAME is a built-in scenario (sim/scenario*.cpp) or a scenario file: DIR/NAME.scenario, where
// DIR is --scenarios-dir, else tests/scenarios under the current directory, else the source
// tree's tests/scenarios (so ctest and a build directory find them too). A NAME holding a '/' or
// ending in .scenario is a path to the file itself. --nodes N and --minutes M reach the built-in
// scenarios that scale (the gossip ones); others ignore them.
//
// `run` ends with "seed=N trace=<16 hex> verdict=pass|fail"; a failure also prints its reasons and
// the command that replays it. Exit status: 0 pass, 1 fail, 2 usage or scenario-file error.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/scenario.hpp"
#include "sim/scenario_file.hpp"
#ifdef PRAETOR_SIM_HAVE_AGENT
#include "sim/agent_scenario.hpp"
#endif

namespace {

namespace fs = std::filesystem;
using praetor::sim::FileRunResult;
using praetor::sim::Scenario;
using praetor::sim::ScenarioFile;
using praetor::sim::ScenarioOptions;
using praetor::sim::ScenarioResult;

constexpr std::string_view kUsage =
    "usage:\n"
    "  praetor-sim --list [--scenarios-dir DIR]\n"
    "  praetor-sim run --scenario NAME --seed N [--trace] [--steps M] [--scenarios-dir DIR]\n"
    "  praetor-sim sweep --scenario NAME --seeds COUNT [--start S] [--scenarios-dir DIR]\n"
    "  (run and sweep also take --nodes N and --minutes M for the scenarios that scale)\n"
    "  NAME: a built-in scenario, or DIR/NAME.scenario (DIR: --scenarios-dir, else\n"
    "  ./tests/scenarios, else the source tree's), or a path to a .scenario file\n";

constexpr std::string_view kDefaultDir = "tests/scenarios";

struct Args {
  std::string command;
  std::string scenario;
  std::optional<std::uint64_t> seed;
  std::uint64_t seeds = 100;
  std::uint64_t start = 1;
  std::uint64_t steps = 0;
  std::uint64_t nodes = 0;
  std::uint64_t minutes = 0;
  std::string scenarios_dir;  // empty: the defaults
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
    auto text = [&](std::string& out) {
      if (i + 1 >= v.size()) {
        fmt::print(stderr, "{} needs a value\n", a);
        return false;
      }
      out = std::string(v[++i]);
      return true;
    };
    if (a == "--list") {
      args.list = true;
    } else if (a == "--trace") {
      args.trace = true;
    } else if (a == "--scenario") {
      if (!text(args.scenario)) return std::nullopt;
    } else if (a == "--scenarios-dir") {
      if (!text(args.scenarios_dir)) return std::nullopt;
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

// Where scenario files are looked for, in order.
std::vector<std::string> scenario_dirs(const Args& args) {
  if (!args.scenarios_dir.empty()) return {args.scenarios_dir};
  std::vector<std::string> dirs = {std::string(kDefaultDir)};
#ifdef PRAETOR_SIM_SCENARIOS_DIR
  dirs.emplace_back(PRAETOR_SIM_SCENARIOS_DIR);
#endif
  return dirs;
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// The file a NAME means, or "" when there is none.
std::string find_scenario_file(const Args& args) {
  const std::string& name = args.scenario;
  if (name.find('/') != std::string::npos || name.ends_with(".scenario")) {
    return is_file(name) ? name : std::string();
  }
  for (const auto& dir : scenario_dirs(args)) {
    std::string path = (fs::path(dir) / (name + ".scenario")).string();
    if (is_file(path)) return path;
  }
  return "";
}

// What a replay command needs to find the same file again.
[[maybe_unused]] std::string file_flags(const Args& args, const std::string& path) {
  if (args.scenario.find('/') != std::string::npos || args.scenario.ends_with(".scenario")) {
    return "";
  }
  std::string dir = fs::path(path).parent_path().string();
  if (dir == kDefaultDir && args.scenarios_dir.empty()) return "";
  return fmt::format(" --scenarios-dir {}", dir);
}

// One way of running a seed: a built-in scenario or a scenario file.
struct Target {
  std::string name;
  std::string replay_flags;  // after "--seed N"
  std::function<FileRunResult(const ScenarioOptions&, bool keep_timeline)> run;
};

void print_failure(const Target& t, std::uint64_t seed, const ScenarioResult& r) {
  for (const auto& f : r.failures) fmt::print("failure: {}\n", f);
  fmt::print("replay: praetor-sim run --scenario {} --seed {}{}\n", t.name, seed, t.replay_flags);
}

ScenarioOptions options_for(const Args& args, std::uint64_t seed) {
  ScenarioOptions options;
  options.seed = seed;
  options.max_steps = args.steps;
  options.nodes = args.nodes;
  options.minutes = args.minutes;
  return options;
}

int run_one(const Target& t, const Args& args) {
  ScenarioOptions options = options_for(args, *args.seed);
  options.trace_out = args.trace ? stdout : nullptr;
  FileRunResult out = t.run(options, true);
  const ScenarioResult& r = out.result;
  for (const auto& line : out.timeline) fmt::print("{}\n", line);
  for (const auto& line : out.measurements) fmt::print("measured: {}\n", line);
  fmt::print("faults: {}\n", r.faults);
  fmt::print("result: {} steps={} end={}\n", r.summary, r.steps, r.end);
  if (!r.pass) print_failure(t, options.seed, r);
  fmt::print("seed={} trace={} verdict={}\n", options.seed, praetor::sim::format_hash(r.trace_hash),
             r.pass ? "pass" : "fail");
  return r.pass ? 0 : 1;
}

int sweep(const Target& t, const Args& args) {
  std::map<std::string, std::pair<praetor::Duration, std::uint64_t>> worst;  // -> (time, seed)
  for (std::uint64_t i = 0; i < args.seeds; ++i) {
    std::uint64_t seed = args.start + i;
    FileRunResult out = t.run(options_for(args, seed), false);
    const ScenarioResult& r = out.result;
    for (const auto& [what, d] : out.worst) {
      auto [it, inserted] = worst.try_emplace(what, d, seed);
      if (!inserted && d > it->second.first) it->second = {d, seed};
    }
    if (!r.pass) {
      fmt::print("faults: {}\nresult: {}\n", r.faults, r.summary);
      print_failure(t, seed, r);
      fmt::print("seed={} trace={} verdict=fail\n", seed, praetor::sim::format_hash(r.trace_hash));
      fmt::print("sweep: {} of {} seeds passed before the failure\n", i, args.seeds);
      return 1;
    }
    if ((i + 1) % 100 == 0) fmt::print("sweep: {} seeds pass (last {})\n", i + 1, seed);
  }
  for (const auto& [what, at] : worst) {
    fmt::print("sweep: worst {}: {:.3f}s (seed {})\n", what, at.first.seconds_f(), at.second);
  }
  fmt::print("sweep: all {} seeds pass ({}..{}) verdict=pass\n", args.seeds, args.start,
             args.start + args.seeds - 1);
  return 0;
}

Target builtin_target(const Scenario& s, const Args& args) {
  std::string extra;
  if (args.nodes != 0) extra += fmt::format(" --nodes {}", args.nodes);
  if (args.minutes != 0) extra += fmt::format(" --minutes {}", args.minutes);
  return Target{s.name, extra, [&s](const ScenarioOptions& o, bool) {
                  FileRunResult out;
                  out.result = s.run(o);
                  return out;
                }};
}

void list(const Args& args) {
  for (const auto& s : praetor::sim::scenarios()) {
    fmt::print("{:<28} {}{}\n", s.name, s.description,
               s.expect_failures ? " (expected to fail)" : "");
  }
  std::vector<std::string> seen;
  for (const auto& dir : scenario_dirs(args)) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".scenario") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const std::string name = f.stem().string();
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
      seen.push_back(name);
      auto parsed = praetor::sim::read_scenario_file(f.string());
      const std::string description =
          parsed.scenario ? parsed.scenario->description
                          : fmt::format("(does not parse: {})", parsed.errors.front());
      fmt::print("{:<28} {} [file {}]\n", name, description, f.string());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Args> args = parse_args(argc, argv);
  if (!args) {
    fmt::print(stderr, "{}", kUsage);
    return 2;
  }
  if (args->list) {
    list(*args);
    return 0;
  }
  if (args->command.empty() || args->scenario.empty()) {
    fmt::print(stderr, "{}", kUsage);
    return 2;
  }
  if (args->command == "run" && !args->seed) {
    fmt::print(stderr, "run needs --seed\n{}", kUsage);
    return 2;
  }
  std::optional<Target> target;
  std::optional<ScenarioFile> file;
  if (const Scenario* s = praetor::sim::find_scenario(args->scenario)) {
    target = builtin_target(*s, *args);
  } else {
    const std::string path = find_scenario_file(*args);
    if (path.empty()) {
      fmt::print(stderr,
                 "unknown scenario {}: not built in, and no {}.scenario in {} (see --list)\n",
                 args->scenario, args->scenario, fmt::join(scenario_dirs(*args), ", "));
      return 2;
    }
    auto parsed = praetor::sim::read_scenario_file(path);
    if (!parsed.scenario) {
      for (const auto& e : parsed.errors) fmt::print(stderr, "{}\n", e);
      fmt::print(stderr, "{}: {} error{}\n", path, parsed.errors.size(),
                 parsed.errors.size() == 1 ? "" : "s");
      return 2;
    }
    file = std::move(parsed.scenario);
#ifdef PRAETOR_SIM_HAVE_AGENT
    target = Target{args->scenario, file_flags(*args, path),
                    [&file](const ScenarioOptions& o, bool keep) {
                      return praetor::sim::run_scenario_file(*file, o, keep);
                    }};
#else
    fmt::print(stderr, "{}: scenario files need the agent, which this build lacks\n", path);
    return 2;
#endif
  }
  if (args->command == "run") return run_one(*target, *args);
  return sweep(*target, *args);
}
