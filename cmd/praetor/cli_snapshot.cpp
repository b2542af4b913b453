// `praetor snapshot save|restore|inspect`: Consul's snapshot commands over /v1/snapshot, with
// praetor's own archive format (core/catalog/archive.hpp). Save writes to a temporary file in
// the target's directory, syncs it and renames it into place, so FILE is either the old file or
// a whole, verified archive; inspect reads a file locally and needs no agent.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "cmd/praetor/commands.hpp"
#include "core/catalog/archive.hpp"

namespace praetor::cmd {
namespace {

Result<std::string> read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIo, fmt::format("{}: {}", path, std::strerror(errno)));
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return make_error(ErrorCode::kIo, fmt::format("{}: {}", path, std::strerror(err)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// temp file, write, fsync, rename, fsync of the directory: a crash leaves the old FILE or the
// new one, never a torn one under FILE's name.
Result<void> write_atomically(const std::string& path, const std::string& data) {
  const std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
  auto fail = [&](std::string_view what) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return make_error(ErrorCode::kIo, fmt::format("{} {}: {}", what, tmp, std::strerror(err)));
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kIo, fmt::format("{}: {}", tmp, std::strerror(errno)));
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return fail("writing");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("syncing");
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("renaming");
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);  // best effort: the file itself is already whole
    ::close(dfd);
  }
  return ok();
}

Result<catalog::Archive> verify(const std::string& bytes) {
  return catalog::read_archive(
      ByteView(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

// Consul's humanized sizes: "667B", "1.7KB", "2.0MB".
std::string byte_size(std::size_t bytes) {
  if (bytes < 1024) return fmt::format("{}B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.1f}KB", static_cast<double>(bytes) / 1024);
  return fmt::format("{:.1f}MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::optional<std::string> one_file_argument(const std::vector<std::string>& rest) {
  if (rest.size() != 1) {
    fmt::print(stderr, "This command takes one argument: <file>\n");
    return std::nullopt;
  }
  return rest[0];
}

int snapshot_save(Args args) {
  HttpOptions http;
  FlagSet flags("snapshot save");
  add_http_flags(flags, http);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor snapshot save [options] FILE", flags);
  const auto file = one_file_argument(*rest);
  if (!file) return 1;
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  auto r = client->call("GET", "/v1/snapshot");
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error saving snapshot: {}\n",
               !r ? r.error().message : unexpected_response(*r));
    return 1;
  }
  // Verified before it replaces anything, and read back after: what is on disk is what the
  // agent sent, whole.
  auto archive = verify(r->body);
  if (!archive) {
    fmt::print(stderr, "Error verifying snapshot: {}\n", archive.error().message);
    return 1;
  }
  if (auto written = write_atomically(*file, r->body); !written) {
    fmt::print(stderr, "Error writing snapshot file: {}\n", written.error().message);
    return 1;
  }
  auto back = read_whole_file(*file);
  if (!back || *back != r->body || !verify(*back)) {
    fmt::print(
        stderr, "Error verifying snapshot file {}: {}\n", *file,
        !back ? back.error().message : std::string("its contents differ from what was sent"));
    return 1;
  }
  fmt::print("Saved and verified snapshot to index {}\n", archive->meta.index);
  return 0;
}

int snapshot_restore(Args args) {
  HttpOptions http;
  FlagSet flags("snapshot restore");
  add_http_flags(flags, http);
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor snapshot restore [options] FILE", flags);
  const auto file = one_file_argument(*rest);
  if (!file) return 1;
  auto bytes = read_whole_file(*file);
  if (!bytes) {
    fmt::print(stderr, "Error opening snapshot file: {}\n", bytes.error().message);
    return 1;
  }
  auto client = AgentClient::create(http);
  if (!client) {
    fmt::print(stderr, "Error connecting to agent: {}\n", client.error().message);
    return 1;
  }
  // The agent checks the archive (and says why it refuses one); checking here first would
  // only say the same thing twice.
  auto r = client->call("PUT", "/v1/snapshot", "", std::move(*bytes));
  if (!r || r->status != 200) {
    fmt::print(stderr, "Error restoring snapshot: {}\n",
               !r ? r.error().message : unexpected_response(*r));
    return 1;
  }
  fmt::print("Restored snapshot\n");
  return 0;
}

int snapshot_inspect(Args args) {
  FlagSet flags("snapshot inspect");
  auto rest = flags.parse(args);
  if (!rest) return flag_error(rest.error(), "praetor snapshot inspect [options] FILE", flags);
  const auto file = one_file_argument(*rest);
  if (!file) return 1;
  auto bytes = read_whole_file(*file);
  if (!bytes) {
    fmt::print(stderr, "Error opening snapshot file: {}\n", bytes.error().message);
    return 1;
  }
  auto archive = verify(*bytes);
  if (!archive) {
    fmt::print(stderr, "Error verifying snapshot: {}\n", archive.error().message);
    return 1;
  }
  auto tables = catalog::summarize_state(archive->state);
  if (!tables) {
    fmt::print(stderr, "Error reading snapshot state: {}\n", tables.error().message);
    return 1;
  }
  // Consul's layout: the archive's metadata, then a table of record types.
  fmt::print(" ID           {}\n", archive->meta.id());
  fmt::print(" Size         {}\n", bytes->size());
  fmt::print(" Index        {}\n", archive->meta.index);
  fmt::print(" Term         {}\n", archive->meta.term);
  fmt::print(" Version      {}\n", archive->meta.version);
  fmt::print(" SHA-256      {}\n", archive->sha256_hex);
  fmt::print("\n");
  fmt::print(" {:<28}{:<11}{}\n", "Type", "Count", "Size");
  fmt::print(" {:<28}{:<11}{}\n", "----", "----", "----");
  std::size_t total = 0;
  for (const auto& t : *tables) {
    fmt::print(" {:<28}{:<11}{}\n", t.type, t.count, byte_size(t.bytes));
    total += t.bytes;
  }
  fmt::print(" {:<28}{:<11}{}\n", "----", "----", "----");
  fmt::print(" {:<28}{:<11}{}\n", "Total", "", byte_size(total));
  return 0;
}

}  // namespace

int run_snapshot(Args args) {
  if (args.empty()) {
    fmt::print(stderr,
               "Usage: praetor snapshot <subcommand> [options] [args]\n\n"
               "Subcommands:\n"
               "    inspect    Displays information about a snapshot file\n"
               "    restore    Restores snapshot of Praetor server state\n"
               "    save       Saves snapshot of Praetor server state\n");
    return 1;
  }
  const std::string& sub = args[0];
  const Args rest = args.subspan(1);
  if (sub == "save") return snapshot_save(rest);
  if (sub == "restore") return snapshot_restore(rest);
  if (sub == "inspect") return snapshot_inspect(rest);
  fmt::print(stderr, "Unknown snapshot subcommand: {}\n", sub);
  return 1;
}

}  // namespace praetor::cmd
