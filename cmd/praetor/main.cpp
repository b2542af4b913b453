// praetor: the Consul-compatible agent and its command-line tools. Dispatches on the first
// argument like Consul's CLI (`praetor agent`, `praetor kv get`, `praetor members`, ...).
#include <fmt/format.h>

#include <string>
#include <vector>

#include "cmd/praetor/commands.hpp"

namespace praetor::cmd {
namespace {

struct Command {
  const char* name;
  int (*run)(Args);
  const char* synopsis;
};

int run_version(Args) {
  fmt::print("Praetor v{}\n", kVersion);
  fmt::print(
      "Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use "
      "protocol >2 when speaking to compatible agents)\n");
  return 0;
}

constexpr Command kCommands[] = {
    {"agent", run_agent_command, "Runs a Praetor agent"},
    {"catalog", run_catalog, "Interact with the catalog"},
    {"event", run_event, "Fire a new event"},
    {"force-leave", run_force_leave, "Forces a member of the cluster to enter the \"left\" state"},
    {"info", run_info, "Provides debugging information for operators."},
    {"join", run_join, "Tell Praetor agent to join cluster"},
    {"keygen", run_keygen, "Generates a new encryption key"},
    {"kv", run_kv, "Interact with the key-value store"},
    {"leave", run_leave, "Gracefully leaves the Praetor cluster and shuts down"},
    {"lock", run_lock, "Execute a command holding a lock"},
    {"maint", run_maint, "Controls node or service maintenance mode"},
    {"members", run_members, "Lists the members of a Praetor cluster"},
    {"operator", run_operator, "Provides cluster-level tools for Praetor operators"},
    {"reload", run_reload, "Triggers the agent to reload configuration files"},
    {"snapshot", run_snapshot, "Saves, restores and inspects snapshots of Praetor server state"},
    {"services", run_services, "Interact with services"},
    {"validate", run_validate, "Validate config files/directories"},
    {"version", run_version, "Prints the Praetor version"},
    {"watch", run_watch, "Watch for changes in Praetor"},
};

void print_usage(std::FILE* out) {
  fmt::print(out,
             "Usage: praetor [--version] [--help] <command> [<args>]\n\n"
             "Available commands are:\n");
  for (const auto& c : kCommands) fmt::print(out, "    {:<14}{}\n", c.name, c.synopsis);
}

}  // namespace
}  // namespace praetor::cmd

int main(int argc, char** argv) {
  using namespace praetor::cmd;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    print_usage(stderr);
    return 1;
  }
  const std::string& name = args[0];
  if (name == "-h" || name == "-help" || name == "--help") {
    print_usage(stdout);
    return 0;
  }
  if (name == "-v" || name == "-version" || name == "--version") return run_version({});
  for (const auto& c : kCommands) {
    if (name == c.name) return c.run(Args(args).subspan(1));
  }
  print_usage(stderr);
  return 1;
}
