#include "cmd/praetor/config_files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/base/limits.hpp"

namespace praetor::cmd {
namespace fs = std::filesystem;

Result<std::string> read_config_file(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) {
    return make_error(ErrorCode::kIo,
                      fmt::format("config: failed to read {}: {}", path, ec.message()));
  }
  if (size > limits::kConfigMaxFileBytes) {
    return make_error(ErrorCode::kTooLarge, fmt::format("config: {} is larger than {} bytes", path,
                                                        limits::kConfigMaxFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::kIo,
                      fmt::format("config: failed to read {}: {}", path, std::strerror(errno)));
  }
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
}

namespace {

enum class Kind { kJson, kHcl, kOther };

Kind kind_of(const std::string& path, const std::string& format) {
  if (format == "json") return Kind::kJson;
  if (path.ends_with(".json")) return Kind::kJson;
  if (path.ends_with(".hcl")) return Kind::kHcl;
  return Kind::kOther;
}

Result<void> add_file(const std::string& path, const std::string& format, ReadSources& out) {
  switch (kind_of(path, format)) {
    case Kind::kHcl:
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{}: HCL is not supported yet; write the configuration as "
                                    "JSON",
                                    path));
    case Kind::kOther:
      out.warnings.push_back(
          fmt::format("skipping file {}, extension must be .json (or set "
                      "-config-format=json)",
                      path));
      return ok();
    case Kind::kJson:
      break;
  }
  auto text = read_config_file(path);
  if (!text) return text.error();
  out.sources.push_back({path, std::move(*text)});
  return ok();
}

Result<void> add_dir(const std::string& dir, const std::string& format, ReadSources& out) {
  std::error_code ec;
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    // Follows symlinks like Consul; subdirectories are not read.
    if (fs::is_directory(it->path(), type_ec)) continue;
    files.push_back(it->path().string());
  }
  if (ec) {
    return make_error(ErrorCode::kIo,
                      fmt::format("config: Readdir failed on {}. {}", dir, ec.message()));
  }
  // Lexical order by file name, as Consul sorts them.
  std::sort(files.begin(), files.end());
  for (const auto& f : files) PRAETOR_TRY_VOID(add_file(f, format, out));
  return ok();
}

}  // namespace

Result<ReadSources> read_config_paths(const std::vector<ConfigPath>& paths,
                                      const std::string& format) {
  if (!format.empty() && format != "json") {
    if (format == "hcl") {
      return make_error(ErrorCode::kInvalidArgument,
                        "config: -config-format=hcl: HCL is not supported yet");
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "config: -config-format must be either 'hcl' or 'json'");
  }
  ReadSources out;
  for (const auto& p : paths) {
    std::error_code ec;
    const auto status = fs::status(p.path, ec);
    if (ec || !fs::exists(status)) {
      return make_error(ErrorCode::kNotFound,
                        fmt::format("config: Open failed on {}. {}", p.path,
                                    ec ? ec.message() : "no such file or directory"));
    }
    if (fs::is_directory(status)) {
      PRAETOR_TRY_VOID(add_dir(p.path, format, out));
    } else {  // Consul treats -config-dir with a file like -config-file

      PRAETOR_TRY_VOID(add_file(p.path, format, out));
    }
  }
  return out;
}

}  // namespace praetor::cmd
