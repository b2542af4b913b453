// Reads -config-file / -config-dir arguments into config sources for node::load_config, with
// Consul's rules: a directory contributes its *.json files (not subdirectories) in lexical
// order; *.hcl is refused until HCL is supported; other files are skipped with a warning
// (unless -config-format=json says every file is JSON).
#pragma once

#include <string>
#include <vector>

#include "core/base/result.hpp"
#include "core/node/config.hpp"

namespace praetor::cmd {

// A -config-file or -config-dir argument; both may name a file or a directory.
struct ConfigPath {
  std::string path;
};

struct ReadSources {
  std::vector<node::ConfigSource> sources;
  std::vector<std::string> warnings;
};

// format: "" (by extension) or "json".
Result<ReadSources> read_config_paths(const std::vector<ConfigPath>& paths,
                                      const std::string& format);

// Reads one file with the size cap limits::kConfigMaxFileBytes.
Result<std::string> read_config_file(const std::string& path);

}  // namespace praetor::cmd
