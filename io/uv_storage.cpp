#include "io/uv_storage.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>

namespace praetor::io {

// Descriptors kept open between batches for appends and truncates, with each file's written end
// (where the next append goes; the file may be longer, by preallocated zeros).
struct FileStorage::Files {
  struct Open {
    int fd = -1;
    std::uint64_t end = 0;   // the written end
    std::uint64_t size = 0;  // the file's size as far as we know (>= end)
  };

  FileStorageOptions options;
  std::map<std::string, Open> open;
  bool can_preallocate = true;  // false once fallocate said the filesystem cannot

  explicit Files(FileStorageOptions o) : options(o) {}
  ~Files() {
    for (auto& [name, file] : open) {
      if (!release(file)) ::close(file.fd);
    }
  }
  Files(const Files&) = delete;
  Files& operator=(const Files&) = delete;

  // Truncates reserved zeros away (a file we do not hold open must end at its written end, as a
  // later open assumes) and closes. False, with the descriptor still open, if truncating failed.
  static bool release(Open& file) {
    struct stat st {};
    if (::fstat(file.fd, &st) != 0) return false;
    if (static_cast<std::uint64_t>(st.st_size) > file.end &&
        ::ftruncate(file.fd, static_cast<off_t>(file.end)) != 0) {
      return false;
    }
    ::close(file.fd);
    file.fd = -1;
    return true;
  }
};

namespace {

// Append descriptors kept open between batches; beyond this the cache is flushed and emptied.
constexpr std::size_t kMaxCachedFds = 256;

Error io_error(std::string_view what, const std::string& path) {
  return make_error(ErrorCode::kIo, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Creates `dir` and its missing parents; each directory created is added to `created`.
Result<void> make_dirs(const std::string& dir, std::vector<std::string>& created) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return ok();
    return make_error(ErrorCode::kIo, fmt::format("{} is not a directory", dir));
  }
  auto slash = dir.rfind('/');
  if (slash != std::string::npos && slash > 0)
    PRAETOR_TRY_VOID(make_dirs(dir.substr(0, slash), created));
  if (::mkdir(dir.c_str(), kDataDirMode) != 0 && errno != EEXIST) {
    return io_error("cannot create", dir);
  }
  created.push_back(dir);
  return ok();
}

Result<void> fsync_path(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
  if (fd < 0) return io_error("cannot open directory", path);
  int rc = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) return io_error("cannot fsync directory", path);
  return ok();
}

Result<void> write_at(int fd, const Bytes& data, std::uint64_t offset, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", path);
    }
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

Result<void> write_all(int fd, const Bytes& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("cannot write", path);
    }
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

Result<Bytes> read_all(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", path);
  Bytes out;
  std::uint8_t chunk[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error e = io_error("cannot read", path);
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.insert(out.end(), chunk, chunk + n);
  }
  ::close(fd);
  return out;
}

Result<void> walk(const std::string& root, const std::string& relative, node::StoredFiles& out) {
  std::string dir = relative.empty() ? root : root + "/" + relative;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return io_error("cannot list", dir);
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(d)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  for (const auto& name : names) {
    std::string rel = relative.empty() ? name : relative + "/" + name;
    std::string full = root + "/" + rel;
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) return io_error("cannot stat", full);
    if (S_ISDIR(st.st_mode)) {
      PRAETOR_TRY_VOID(walk(root, rel, out));
    } else if (S_ISREG(st.st_mode)) {
      if (ends_with(name, kTempSuffix)) {
        ::unlink(full.c_str());  // an interrupted kReplace; the target still holds the old data
        continue;
      }
      auto data = read_all(full);
      if (!data) return data.error();
      out[rel] = std::move(*data);
    }
  }
  return ok();
}

// The worker-side application of batches. It runs on a pool thread and touches only its
// arguments and the descriptor cache, which no one else uses while a job runs.
class BatchWriter {
 public:
  using Open = FileStorage::Files::Open;

  BatchWriter(const std::string& root, FileStorage::Files& files) : root_(root), files_(files) {}

  Result<void> apply(const node::WriteBatch& batch) {
    for (const auto& op : batch.ops) {
      PRAETOR_TRY_VOID(validate_file_name(op.file));
      PRAETOR_TRY_VOID(apply_op(op, batch.sync));
    }
    if (!batch.sync) return ok();
    for (const auto& name : to_sync_) {
      auto it = files_.open.find(name);
      if (it != files_.open.end() && ::fdatasync(it->second.fd) != 0)
        return io_error("cannot sync", name);
    }
    for (const auto& dir : dirs_to_sync_) PRAETOR_TRY_VOID(fsync_path(dir));
    return ok();
  }

  void trim_cache() {
    if (files_.open.size() <= kMaxCachedFds) return;
    for (auto it = files_.open.begin(); it != files_.open.end();) {
      it = FileStorage::Files::release(it->second) ? files_.open.erase(it) : std::next(it);
    }
  }

 private:
  Result<void> apply_op(const node::WriteOp& op, bool sync) {
    std::string path = root_ + "/" + op.file;
    switch (op.kind) {
      case node::WriteOp::Kind::kAppend: {
        auto opened = open_file(op.file, path);
        if (!opened) return opened.error();
        Open& file = **opened;
        if (op.preallocate) reserve(file, op.data.size());
        // On failure the end stays put: a retry overwrites whatever part was written.
        PRAETOR_TRY_VOID(write_at(file.fd, op.data, file.end, path));
        file.end += op.data.size();
        file.size = std::max(file.size, file.end);
        to_sync_.insert(op.file);
        return ok();
      }
      case node::WriteOp::Kind::kReplace:
        forget(op.file);
        return replace(path, op.data, sync);
      case node::WriteOp::Kind::kRemove:
        forget(op.file);
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("cannot remove", path);
        dirs_to_sync_.insert(parent_of(path));
        return ok();
      case node::WriteOp::Kind::kTruncate: {
        auto opened = open_file(op.file, path);
        if (!opened) return opened.error();
        Open& file = **opened;
        if (::ftruncate(file.fd, static_cast<off_t>(op.size)) != 0)
          return io_error("cannot truncate", path);
        file.end = file.size = op.size;
        // Durable before what follows: the WAL seals a segment this way before it creates the
        // next one, so that a crash never leaves preallocated zeros in a segment but the last.
        if (sync && ::fdatasync(file.fd) != 0) return io_error("cannot sync", path);
        return ok();
      }
    }
    return make_error(ErrorCode::kInvalidArgument, "unknown write op");
  }

  // Makes the file's size cover an append of `n` bytes at its end by preallocating up to the
  // next chunk boundary past it. Best effort: when the filesystem cannot, or fallocate fails for
  // another reason (no space), the append grows the file as a plain append does.
  void reserve(Open& file, std::uint64_t n) {
    const std::uint64_t chunk = files_.options.preallocate_chunk;
    if (chunk == 0 || !files_.can_preallocate || file.end + n <= file.size) return;
    const std::uint64_t target = ((file.end + n) / chunk + 1) * chunk;
    auto* fallocate = files_.options.fallocate != nullptr ? files_.options.fallocate : ::fallocate;
    if (fallocate(file.fd, 0, static_cast<off_t>(file.size),
                  static_cast<off_t>(target - file.size)) == 0) {
      file.size = target;
      return;
    }
    if (errno == EOPNOTSUPP || errno == ENOSYS) files_.can_preallocate = false;
    // A failed fallocate may still have extended the file: learn its size again.
    struct stat st {};
    if (::fstat(file.fd, &st) == 0) {
      file.size = std::max(file.end, static_cast<std::uint64_t>(st.st_size));
    }
  }

  // The cached descriptor, or a new one whose written end is the file's size (created, with its
  // missing directories, when absent).
  Result<Open*> open_file(const std::string& name, const std::string& path) {
    auto it = files_.open.find(name);
    if (it != files_.open.end()) return &it->second;
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      std::vector<std::string> created;
      PRAETOR_TRY_VOID(make_dirs(parent_of(path), created));
      for (const auto& dir : created) dirs_to_sync_.insert(parent_of(dir));
      fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, kDataFileMode);
      dirs_to_sync_.insert(parent_of(path));
    }
    if (fd < 0) return io_error("cannot open", path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      Error e = io_error("cannot stat", path);
      ::close(fd);
      return e;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    Open& file = files_.open[name];
    file = Open{fd, size, size};
    return &file;
  }

  Result<void> replace(const std::string& path, const Bytes& data, bool sync) {
    std::vector<std::string> created;
    PRAETOR_TRY_VOID(make_dirs(parent_of(path), created));
    for (const auto& dir : created) dirs_to_sync_.insert(parent_of(dir));
    std::string temp = path + std::string(kTempSuffix);
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kDataFileMode);
    if (fd < 0) return io_error("cannot create", temp);
    auto written = write_all(fd, data, temp);
    if (written && sync && ::fsync(fd) != 0) written = io_error("cannot sync", temp);
    ::close(fd);
    if (!written) {
      ::unlink(temp.c_str());
      return written;
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) return io_error("cannot rename onto", path);
    dirs_to_sync_.insert(parent_of(path));
    return ok();
  }

  // The file is about to be replaced or removed: close it (its reserved tail goes with it).
  void forget(const std::string& name) {
    auto it = files_.open.find(name);
    if (it == files_.open.end()) return;
    ::close(it->second.fd);
    files_.open.erase(it);
    to_sync_.erase(name);
  }

  const std::string& root_;
  FileStorage::Files& files_;
  std::set<std::string> to_sync_;
  std::set<std::string> dirs_to_sync_;
};

}  // namespace

Result<DataDirState> ensure_data_dir(const std::string& dir) {
  std::string path = dir;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::vector<std::string> created;
  PRAETOR_TRY_VOID(make_dirs(path, created));
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return io_error("cannot stat", path);
  return DataDirState{!created.empty(), static_cast<mode_t>(st.st_mode & 07777)};
}

Result<void> validate_file_name(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return make_error(ErrorCode::kInvalidArgument,
                      fmt::format("bad storage file name \"{}\": {}", name, why));
  };
  if (name.empty()) return bad("empty");
  if (name.front() == '/') return bad("absolute");
  if (name.find('\0') != std::string_view::npos) return bad("NUL byte");
  if (ends_with(name, kTempSuffix)) return bad("reserved suffix");
  std::size_t start = 0;
  while (start <= name.size()) {
    auto slash = name.find('/', start);
    std::string_view part = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return bad("empty, '.' or '..' component");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return ok();
}

struct FileStorage::Job {
  FileStorage* storage = nullptr;
  std::string root;
  std::vector<std::pair<node::WriteBatch, Ticket>> batches;
  std::vector<Result<void>> results;
};

FileStorage::FileStorage(uv_loop_t* loop, std::string root, StorageCompletion completion,
                         FileStorageOptions options)
    : loop_(loop),
      root_(std::move(root)),
      completion_(std::move(completion)),
      files_(std::make_unique<Files>(options)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

FileStorage::~FileStorage() {
  PRAETOR_ASSERT_MSG(!running_, "FileStorage destroyed with a write in flight");
}

Result<node::StoredFiles> FileStorage::recover() {
  PRAETOR_ASSERT_MSG(!running_, "recover() while writing");
  std::vector<std::string> created;
  PRAETOR_TRY_VOID(make_dirs(root_, created));
  node::StoredFiles files;
  PRAETOR_TRY_VOID(walk(root_, "", files));
  return files;
}

void FileStorage::write(node::WriteBatch batch, Ticket ticket) {
  queue_.emplace_back(std::move(batch), ticket);
  start_next();
}

void FileStorage::start_next() {
  if (running_ || queue_.empty()) return;
  // Everything queued so far goes to the pool as one job: in order, and one thread hop for many
  // small batches (group commit).
  job_ = new Job;
  job_->storage = this;
  job_->root = root_;
  job_->batches.swap(queue_);
  work_.data = job_;
  running_ = true;
  int rc = uv_queue_work(loop_, &work_, on_work, on_after_work);
  PRAETOR_ASSERT_MSG(rc == 0, "uv_queue_work failed: {}", rc);
}

void FileStorage::on_work(uv_work_t* req) {
  auto* job = static_cast<Job*>(req->data);
  BatchWriter trimmer(job->root, *job->storage->files_);
  trimmer.trim_cache();
  for (const auto& [batch, ticket] : job->batches) {
    BatchWriter writer(job->root, *job->storage->files_);
    job->results.push_back(writer.apply(batch));
  }
}

void FileStorage::on_after_work(uv_work_t* req, int status) {
  std::unique_ptr<Job> job(static_cast<Job*>(req->data));
  FileStorage* self = job->storage;
  self->running_ = false;
  self->job_ = nullptr;
  PRAETOR_ASSERT_MSG(status == 0, "storage work cancelled: {}", status);
  PRAETOR_ASSERT(job->results.size() == job->batches.size());
  for (std::size_t i = 0; i < job->batches.size(); ++i) {
    if (!self->detached_) self->completion_(job->batches[i].second, std::move(job->results[i]));
  }
  self->start_next();
}

void MemoryStorage::write(node::WriteBatch batch, Ticket ticket) {
  for (const auto& op : batch.ops) {
    if (auto valid = validate_file_name(op.file); !valid) {
      completion_(ticket, valid.error());
      return;
    }
    apply_write_op(files_, op);
  }
  completion_(ticket, ok());
}

}  // namespace praetor::io
