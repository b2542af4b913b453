// FileStorage in a temp directory: ordered batches, recovery, atomic replace, truncate, bad
// names; and MemoryStorage giving the same files for the same batches.
#include <gtest/gtest.h>

#include <fstream>

#include "io/uv_storage.hpp"
#include "tests/io/test_util.hpp"

namespace praetor::io {
namespace {

using Kind = node::WriteOp::Kind;

node::WriteOp op(Kind kind, std::string file, std::string data = "", std::uint64_t size = 0) {
  return node::WriteOp{kind, std::move(file), to_bytes(data), size};
}

class StorageTest : public ::testing::Test {
 protected:
  StorageTest() { uv_loop_init(&loop_); }
  ~StorageTest() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  std::unique_ptr<FileStorage> open_storage() {
    return std::make_unique<FileStorage>(&loop_, dir_.path() + "/data",
                                         [this](Ticket t, Result<void> r) {
                                           done_.push_back({t, r.has_value()});
                                         });
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

}  // namespace
}  // namespace praetor::io
