// FileStorage in a temp directory: ordered batches, recovery, atomic replace, truncate, bad
// names, preallocation ahead of WAL appends (and its fallback), file and directory modes; and
// MemoryStorage giving the same files for the same batches.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "core/wal/wal.hpp"
#include "io/uv_storage.hpp"
#include "tests/io/test_util.hpp"

namespace praetor::io {
namespace {

using Kind = node::WriteOp::Kind;

node::WriteOp op(Kind kind, std::string file, std::string data = "", std::uint64_t size = 0) {
  return node::WriteOp{kind, std::move(file), to_bytes(data), size};
}

// An append with the preallocate hint, as the WAL writes them.
node::WriteOp log_append(std::string file, std::string data) {
  node::WriteOp o = op(Kind::kAppend, std::move(file), std::move(data));
  o.preallocate = true;
  return o;
}

constexpr std::uint64_t kChunk = 64 * 1024;

struct stat stat_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st;
}

// Whether the filesystem under `dir` can preallocate (tmpfs and ext4 can; some cannot, and there
// FileStorage falls back to plain appends, which WithoutFallocateAppendsGrowTheFile covers).
bool can_fallocate(const std::string& dir) {
  const std::string probe = dir + "/fallocate-probe";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  const bool ok = ::fallocate(fd, 0, 0, 4096) == 0;
  ::close(fd);
  ::unlink(probe.c_str());
  return ok;
}

#define SKIP_WITHOUT_FALLOCATE() \
  if (!can_fallocate(dir_.path())) GTEST_SKIP() << "no fallocate on this filesystem"

// Fake fallocate(2)s: one that says the filesystem cannot, one that says the disk is full.
int calls_to_fallocate = 0;
int fallocate_unsupported(int, int, off_t, off_t) {
  ++calls_to_fallocate;
  errno = EOPNOTSUPP;
  return -1;
}
int fallocate_no_space(int, int, off_t, off_t) {
  ++calls_to_fallocate;
  errno = ENOSPC;
  return -1;
}

class StorageTest : public ::testing::Test {
 protected:
  StorageTest() { uv_loop_init(&loop_); }
  ~StorageTest() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  std::unique_ptr<FileStorage> open_storage(FileStorageOptions options = {},
                                            const std::string& sub = "data") {
    return std::make_unique<FileStorage>(
        &loop_, dir_.path() + "/" + sub,
        [this](Ticket t, Result<void> r) { done_.push_back({t, r.has_value()}); }, options);
  }
  std::string path(const std::string& name) { return dir_.path() + "/data/" + name; }
  void expect_all_done() {
    for (const auto& [ticket, ok] : done_) EXPECT_TRUE(ok) << ticket.value();
  }
  void drain() { uv_run(&loop_, UV_RUN_DEFAULT); }
  std::string read_file(const std::string& name) {
    std::ifstream in(dir_.path() + "/data/" + name, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  uv_loop_t loop_{};
  testing::TempDir dir_;
  std::vector<std::pair<Ticket, bool>> done_;
};

TEST_F(StorageTest, BatchesApplyInOrderAndRecover) {
  auto storage = open_storage();
  ASSERT_TRUE(storage->recover().has_value());
  storage->write(node::WriteBatch{{op(Kind::kAppend, "raft/wal-1", "hello")}, true}, Ticket(1));
  storage->write(node::WriteBatch{{op(Kind::kAppend, "raft/wal-1", " world")}, false}, Ticket(2));
  storage->write(
      node::WriteBatch{{op(Kind::kReplace, "meta", "v1"), op(Kind::kAppend, "deep/er/file", "x")},
                       true},
      Ticket(3));
  EXPECT_TRUE(done_.empty());  // never completed from inside write()
  drain();
  ASSERT_EQ(done_.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(done_[i].first, Ticket(i + 1));
    EXPECT_TRUE(done_[i].second);
  }
  storage.reset();
  auto recovered = open_storage()->recover();
  ASSERT_TRUE(recovered.has_value());
  node::StoredFiles expected = {{"deep/er/file", to_bytes("x")},
                                {"meta", to_bytes("v1")},
                                {"raft/wal-1", to_bytes("hello world")}};
  EXPECT_EQ(*recovered, expected);
}

TEST_F(StorageTest, ReplaceIsWholeAndLeftoverTempFilesAreIgnored) {
  auto storage = open_storage();
  ASSERT_TRUE(storage->recover().has_value());
  storage->write(node::WriteBatch{{op(Kind::kReplace, "snap", std::string(1000, 'o'))}, true},
                 Ticket(1));
  storage->write(node::WriteBatch{{op(Kind::kReplace, "snap", "new")}, true}, Ticket(2));
  drain();
  EXPECT_EQ(read_file("snap"), "new");
  // A crash between temp write and rename leaves a temp file; recovery drops it.
  {
    std::ofstream leftover(dir_.path() + "/data/snap" + std::string(kTempSuffix));
    leftover << "torn";
  }
  auto recovered = open_storage()->recover();
  ASSERT_TRUE(recovered.has_value());
  EXPECT_EQ(*recovered, (node::StoredFiles{{"snap", to_bytes("new")}}));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/data/snap" + std::string(kTempSuffix)));
}

TEST_F(StorageTest, TruncateAndRemove) {
  auto storage = open_storage();
  storage->write(
      node::WriteBatch{{op(Kind::kAppend, "log", "0123456789"), op(Kind::kTruncate, "log", "", 4),
                        op(Kind::kAppend, "log", "Z"), op(Kind::kAppend, "gone", "bye")},
                       true},
      Ticket(1));
  storage->write(node::WriteBatch{{op(Kind::kRemove, "gone")}, true}, Ticket(2));
  drain();
  ASSERT_EQ(done_.size(), 2u);
  EXPECT_EQ(read_file("log"), "0123Z");
  auto recovered = open_storage()->recover();
  ASSERT_TRUE(recovered.has_value());
  EXPECT_EQ(*recovered, (node::StoredFiles{{"log", to_bytes("0123Z")}}));
}

TEST_F(StorageTest, BadNamesFailTheBatch) {
  auto storage = open_storage();
  Ticket t(1);
  for (std::string name : {"../escape", "/abs", "a//b", "", "a/./b", "x.praetor-tmp"}) {
    storage->write(node::WriteBatch{{op(Kind::kAppend, name, "x")}, true}, t);
    t = t.next();
  }
  drain();
  ASSERT_EQ(done_.size(), 6u);
  for (const auto& [ticket, ok] : done_) EXPECT_FALSE(ok) << ticket.value();
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/escape"));
}

TEST_F(StorageTest, MemoryStorageMatchesFileStorage) {
  std::vector<node::WriteBatch> batches = {
      {{op(Kind::kAppend, "a", "12345"), op(Kind::kReplace, "b/c", "v")}, true},
      {{op(Kind::kTruncate, "a", "", 2), op(Kind::kAppend, "a", "x")}, false},
      {{op(Kind::kRemove, "b/c"), op(Kind::kReplace, "d", "last")}, true},
  };
  std::vector<Ticket> memory_done;
  MemoryStorage memory([&](Ticket t, Result<void> r) {
    EXPECT_TRUE(r.has_value());
    memory_done.push_back(t);
  });
  auto file = open_storage();
  for (std::size_t i = 0; i < batches.size(); ++i) {
    memory.write(batches[i], Ticket(i));
    file->write(batches[i], Ticket(i));
  }
  drain();
  EXPECT_EQ(memory_done.size(), 3u);
  auto recovered = open_storage()->recover();
  ASSERT_TRUE(recovered.has_value());
  EXPECT_EQ(*recovered, memory.files());
  EXPECT_EQ(memory.files().at("a"), to_bytes("12x"));
}

TEST_F(StorageTest, PreallocatedAppendsWriteAtTheEndWithRoomAhead) {
  SKIP_WITHOUT_FALLOCATE();
  auto storage = open_storage(FileStorageOptions{.preallocate_chunk = kChunk});
  storage->write(node::WriteBatch{{log_append("raft/wal-1", "hello"),
                                   op(Kind::kAppend, "plain", "no hint")},
                                  true},
                 Ticket(1));
  storage->write(node::WriteBatch{{log_append("raft/wal-1", " world")}, true}, Ticket(2));
  drain();
  ASSERT_EQ(done_.size(), 2u);
  expect_all_done();
  // The log's size already covers the next appends, and the space is allocated; the data sits
  // at the front, zeros after it.
  struct stat st = stat_of(path("raft/wal-1"));
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), kChunk);
  EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, kChunk);
  std::string content = read_file("raft/wal-1");
  EXPECT_EQ(content.substr(0, 11), "hello world");
  EXPECT_EQ(content.find_first_not_of('\0', 11), std::string::npos);
  // Without the hint a file grows as written.
  EXPECT_EQ(stat_of(path("plain")).st_size, 7);
  // A clean stop cuts the reserved zeros.
  storage.reset();
  EXPECT_EQ(read_file("raft/wal-1"), "hello world");
}

TEST_F(StorageTest, PreallocationGrowsInChunksAsAppendsPassIt) {
  SKIP_WITHOUT_FALLOCATE();
  auto storage = open_storage(FileStorageOptions{.preallocate_chunk = kChunk});
  const std::string block(40 * 1024, 'b');
  storage->write(node::WriteBatch{{log_append("log", block)}, true}, Ticket(1));
  drain();
  EXPECT_EQ(static_cast<std::uint64_t>(stat_of(path("log")).st_size), kChunk);
  storage->write(node::WriteBatch{{log_append("log", block)}, true}, Ticket(2));  // passes 64 KiB
  drain();
  EXPECT_EQ(static_cast<std::uint64_t>(stat_of(path("log")).st_size), 2 * kChunk);
  expect_all_done();
  storage.reset();
  EXPECT_EQ(read_file("log"), block + block);
}

TEST_F(StorageTest, ATruncateMovesTheWrittenEnd) {
  SKIP_WITHOUT_FALLOCATE();
  auto storage = open_storage(FileStorageOptions{.preallocate_chunk = kChunk});
  storage->write(node::WriteBatch{{log_append("log", "0123456789"), op(Kind::kTruncate, "log", "", 4),
                                   log_append("log", "Z")},
                                  true},
                 Ticket(1));
  drain();
  expect_all_done();
  std::string content = read_file("log");
  EXPECT_EQ(content.substr(0, 5), "0123Z");
  EXPECT_EQ(content.find_first_not_of('\0', 5), std::string::npos);
  EXPECT_GT(content.size(), 5u);  // room was reserved again after the truncate
  storage.reset();
  EXPECT_EQ(read_file("log"), "0123Z");
}

TEST_F(StorageTest, ClosingCachedDescriptorsCutsReservedSpace) {
  // Past 256 open files the descriptor cache is emptied at the next job; a log reopened after
  // that must continue at its written end, not after its reserved zeros.
  auto storage = open_storage(FileStorageOptions{.preallocate_chunk = kChunk});
  storage->write(node::WriteBatch{{log_append("log", "one")}, true}, Ticket(1));
  drain();
  node::WriteBatch many{{}, false};
  for (int i = 0; i < 300; ++i) many.ops.push_back(op(Kind::kAppend, fmt::format("f/{}", i), "x"));
  storage->write(std::move(many), Ticket(2));
  drain();
  storage->write(node::WriteBatch{{log_append("log", "two")}, true}, Ticket(3));
  drain();
  ASSERT_EQ(done_.size(), 3u);
  expect_all_done();
  EXPECT_EQ(read_file("log").substr(0, 6), "onetwo");
  storage.reset();
  EXPECT_EQ(read_file("log"), "onetwo");
}

TEST_F(StorageTest, WithoutFallocateAppendsGrowTheFile) {
  for (auto* fake : {&fallocate_unsupported, &fallocate_no_space}) {
    SCOPED_TRACE(fake == &fallocate_unsupported ? "EOPNOTSUPP" : "ENOSPC");
    calls_to_fallocate = 0;
    done_.clear();
    const std::string sub = fake == &fallocate_unsupported ? "a" : "b";
    auto storage = open_storage(FileStorageOptions{.preallocate_chunk = kChunk, .fallocate = fake}, sub);
    for (int i = 0; i < 3; ++i) {
      storage->write(node::WriteBatch{{log_append("log", fmt::format("<{}>", i))}, true}, Ticket(1));
      drain();
    }
    ASSERT_EQ(done_.size(), 3u);
    expect_all_done();
    struct stat st = stat_of(dir_.path() + "/" + sub + "/log");
    EXPECT_EQ(st.st_size, 9);
    // Unsupported: asked once, then never again. No space: asked at every append (space may
    // come back), each time falling back to a plain append.
    EXPECT_EQ(calls_to_fallocate, fake == &fallocate_unsupported ? 1 : 3);
    auto recovered = storage->recover();
    ASSERT_TRUE(recovered.has_value());
    EXPECT_EQ(recovered->at("log"), to_bytes("<0><1><2>"));
  }
}

// The WAL over FileStorage through a crash: segments roll (sealed ones are cut to their length),
// the crash image keeps the last segment's reserved zeros, and recovery reads them as a clean
// end; the next writer truncates them away and continues.
TEST_F(StorageTest, TheWalRecoversFromACrashImageWithPreallocatedZeros) {
  SKIP_WITHOUT_FALLOCATE();
  wal::Options options;
  options.segment_max_bytes = 300;
  std::vector<wal::Record> written;
  auto storage = open_storage(FileStorageOptions{.preallocate_chunk = kChunk});
  ASSERT_TRUE(storage->recover().has_value());
  wal::Writer writer(options, wal::Recovered{});
  for (int i = 0; i < 10; ++i) {
    wal::Record r{1, to_bytes(fmt::format("record {} {}", i, std::string(40, 'p')))};
    written.push_back(r);
    storage->write(node::WriteBatch{writer.append({r}), true}, Ticket(static_cast<std::uint64_t>(i)));
    drain();
  }
  expect_all_done();
  ASSERT_GT(writer.current_segment(), 2u);
  // Sealed segments hold exactly their batches; the last one has room reserved after its end.
  for (std::uint64_t s = 1; s < writer.current_segment(); ++s) {
    const std::string name = wal::segment_name(options, s);
    EXPECT_LE(static_cast<std::uint64_t>(stat_of(path(name)).st_size), options.segment_max_bytes)
        << name;
  }
  const std::string last = wal::segment_name(options, writer.current_segment());
  EXPECT_EQ(static_cast<std::uint64_t>(stat_of(path(last)).st_size), kChunk);
  // The crash: an image of the directory while the storage still holds its files open.
  std::filesystem::copy(dir_.path() + "/data", dir_.path() + "/crashed",
                        std::filesystem::copy_options::recursive);
  storage.reset();
  storage = open_storage(FileStorageOptions{.preallocate_chunk = kChunk}, "crashed");
  auto files = storage->recover();
  ASSERT_TRUE(files.has_value());
  EXPECT_EQ(files->at(last).size(), kChunk);
  auto recovered = wal::recover(*files, options);
  ASSERT_TRUE(recovered.has_value()) << recovered.error().message;
  EXPECT_EQ(recovered->records, written);
  EXPECT_TRUE(recovered->tail_dropped);
  EXPECT_FALSE(recovered->torn_tail_cut);
  wal::Writer again(options, *recovered);
  for (int i = 0; i < 3; ++i) {
    wal::Record r{2, to_bytes(fmt::format("after {}", i))};
    written.push_back(r);
    storage->write(node::WriteBatch{again.append({r}), true}, Ticket(100));
    drain();
  }
  expect_all_done();
  storage.reset();
  auto reopened = open_storage({}, "crashed")->recover();
  ASSERT_TRUE(reopened.has_value());
  auto final_log = wal::recover(*reopened, options);
  ASSERT_TRUE(final_log.has_value()) << final_log.error().message;
  EXPECT_EQ(final_log->records, written);
  EXPECT_FALSE(final_log->tail_dropped);  // a clean stop left every file at its written end
}

// Clears the umask for one test, so that the modes seen are the ones FileStorage asked for (with
// the usual 022 a 0644 request would still show as 0644, but a 0666 one would too).
class NoUmask {
 public:
  NoUmask() : saved_(::umask(0)) {}
  ~NoUmask() { ::umask(saved_); }
  NoUmask(const NoUmask&) = delete;
  NoUmask& operator=(const NoUmask&) = delete;

 private:
  mode_t saved_;
};

mode_t mode_of(const std::string& path) { return stat_of(path).st_mode & 07777; }

// Data files are 0600 and directories 0700 (Consul writes its data files 0600): the WAL
// (appends), snapshots and the peers file (replaces), member snapshots and node-id alike.
TEST_F(StorageTest, FilesAre0600AndDirectories0700) {
  NoUmask no_umask;
  auto storage = open_storage(FileStorageOptions{.preallocate_chunk = kChunk}, "data");
  ASSERT_TRUE(storage->recover().has_value());
  EXPECT_EQ(mode_of(dir_.path() + "/data"), 0700u);
  storage->write(node::WriteBatch{{log_append("raft/wal-0000000000000001", "entry"),
                                   op(Kind::kReplace, "raft/snapshot", "snap"),
                                   op(Kind::kReplace, "raft/peers", "peers"),
                                   op(Kind::kAppend, "serf/local.snapshot", "alive: n1"),
                                   op(Kind::kReplace, "node-id", "id")},
                                  true},
                 Ticket(1));
  // A replace of an existing file writes a new one: the mode of the new file counts.
  storage->write(node::WriteBatch{{op(Kind::kReplace, "raft/snapshot", "snap 2")}, true},
                 Ticket(2));
  drain();
  expect_all_done();
  ASSERT_EQ(done_.size(), 2u);
  for (const char* file : {"raft/wal-0000000000000001", "raft/snapshot", "raft/peers",
                           "serf/local.snapshot", "node-id"}) {
    EXPECT_EQ(mode_of(path(file)), 0600u) << file;
  }
  for (const char* dir : {"raft", "serf"}) EXPECT_EQ(mode_of(path(dir)), 0700u) << dir;
}

// ensure_data_dir makes the directory and its parents 0700 (mkdir -p), and leaves an existing
// directory's mode alone: it reports the mode so that the agent can warn (D17).
TEST_F(StorageTest, EnsureDataDirCreatesParentsAndKeepsExistingModes) {
  NoUmask no_umask;
  const std::string deep = dir_.path() + "/a/b/data/";
  auto made = ensure_data_dir(deep);
  ASSERT_TRUE(made.has_value()) << made.error().message;
  EXPECT_TRUE(made->created);
  EXPECT_EQ(made->mode, 0700u);
  for (const char* d : {"/a", "/a/b", "/a/b/data"}) {
    EXPECT_EQ(mode_of(dir_.path() + d), 0700u) << d;
  }
  auto again = ensure_data_dir(deep);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(again->created);

  const std::string loose = dir_.path() + "/loose";
  ASSERT_EQ(::mkdir(loose.c_str(), 0755), 0);
  auto existing = ensure_data_dir(loose);
  ASSERT_TRUE(existing.has_value());
  EXPECT_FALSE(existing->created);
  EXPECT_EQ(existing->mode, 0755u);
  EXPECT_EQ(mode_of(loose), 0755u);  // not changed

  const std::string file = dir_.path() + "/plain-file";
  std::ofstream(file) << "x";
  auto not_dir = ensure_data_dir(file);
  ASSERT_FALSE(not_dir.has_value());
  EXPECT_NE(not_dir.error().message.find("is not a directory"), std::string::npos);
}

}  // namespace
}  // namespace praetor::io
