// Storage hosts. FileStorage keeps each named file under a root directory and applies write
// batches in order on libuv's thread pool, so fsync never blocks the loop; MemoryStorage (dev
// mode, no data_dir) keeps them in a map. Both complete a batch through the Completion callback,
// which the host turns into a queued Process::on_written. FileStorage calls it from the loop once
// the pool is done; MemoryStorage calls it inside write(), so its callback must only queue.
//
// Durability (FileStorage, batch.sync): appends and truncates are fdatasync'ed, a file created by
// the batch also fsyncs its directory; kReplace writes a temp file, fsyncs it, renames it over
// the target and fsyncs the directory, so a crash leaves the old or the new content, never a mix;
// kRemove fsyncs the directory. Without sync the same operations run without the flushes. A
// synced kTruncate is fdatasync'ed at once, before the batch's later operations run.
//
// Modes (FileStorage): files are created 0600 and directories 0700, whatever the umask allows
// beyond that, because the data directory holds the whole catalog and KV store (Consul writes
// its data files 0600 too). Files and directories that already exist keep their modes.
//
// Preallocation (FileStorage): an append with WriteOp::preallocate first makes sure the file is
// allocated past the new end, with fallocate(2) mode 0 in steps of `preallocate_chunk`, so the
// file's size already covers the append and its fdatasync does not have to journal a new size.
// FileStorage therefore tracks each open file's written end and writes there (pwrite), not at
// the file's size; a file it opens starts with its end at its size, and a kTruncate sets it.
// Reserved zeros past the end are truncated away when the descriptor is closed (cache trim,
// destruction); after a crash they stay, and the WAL reads them as a clean end (core/wal). When
// the filesystem cannot preallocate (EOPNOTSUPP), appends just grow the file.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/node/env.hpp"

namespace praetor::io {

using StorageCompletion = std::function<void(Ticket, Result<void>)>;

// Suffix of kReplace temp files; recover() deletes leftovers and never reports them.
inline constexpr std::string_view kTempSuffix = ".praetor-tmp";

inline constexpr mode_t kDataFileMode = 0600;
inline constexpr mode_t kDataDirMode = 0700;

// What ensure_data_dir found or made.
struct DataDirState {
  bool created = false;  // the directory did not exist (its missing parents were made too)
  mode_t mode = 0;       // its permission bits now
};

// Creates `dir` and its missing parents with kDataDirMode, like `mkdir -p -m 0700`; an existing
// directory is left as it is. The agent calls it before it writes anything (pid file, logs).
Result<DataDirState> ensure_data_dir(const std::string& dir);

// A file name the storage accepts: relative, '/'-separated, no empty, "." or ".." components.
Result<void> validate_file_name(std::string_view name);

struct FileStorageOptions {
  // Preallocation step in bytes for appends with the preallocate hint; 0 turns it off.
  std::uint64_t preallocate_chunk = 4 * 1024 * 1024;
  // The fallocate(2) to call (nullptr: the system's); tests substitute one that fails.
  int (*fallocate)(int fd, int mode, off_t offset, off_t length) = nullptr;
};

class FileStorage final : public node::Storage {
 public:
  FileStorage(uv_loop_t* loop, std::string root, StorageCompletion completion,
              FileStorageOptions options = {});
  ~FileStorage() override;
  FileStorage(const FileStorage&) = delete;
  FileStorage& operator=(const FileStorage&) = delete;

  void write(node::WriteBatch batch, Ticket ticket) override;
  Result<node::StoredFiles> recover() override;

  // No batch queued or running (the loop may stop without losing a write).
  bool idle() const { return !running_ && queue_.empty(); }
  // Stops delivering completions (the process is gone); queued batches are still written.
  void detach() { detached_ = true; }

  struct Job;
  struct Files;

 private:
  static void on_work(uv_work_t* req);
  static void on_after_work(uv_work_t* req, int status);
  void start_next();

  uv_loop_t* loop_;
  std::string root_;
  StorageCompletion completion_;
  std::vector<std::pair<node::WriteBatch, Ticket>> queue_;
  bool running_ = false;
  bool detached_ = false;
  uv_work_t work_{};
  Job* job_ = nullptr;
  // Open append descriptors and their written ends; touched only by the one job running at a
  // time.
  std::unique_ptr<Files> files_;
};

class MemoryStorage final : public node::Storage {
 public:
  // `completion` must defer (queue) the call: write() invokes it before returning.
  explicit MemoryStorage(StorageCompletion completion) : completion_(std::move(completion)) {}

  void write(node::WriteBatch batch, Ticket ticket) override;
  Result<node::StoredFiles> recover() override { return files_; }
  const node::StoredFiles& files() const { return files_; }

 private:
  StorageCompletion completion_;
  node::StoredFiles files_;
};

}  // namespace praetor::io
