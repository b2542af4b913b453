#include "core/catalog/kv.hpp"

#include <gtest/gtest.h>

namespace praetor::catalog {
namespace {

Bytes b(std::string_view s) { return to_bytes(s); }

TEST(KvStore, SetTracksCreateAndModifyIndex) {
  KvStore kv;
  kv.set(5, "a", b("1"), 0);
  kv.set(7, "a", b("2"), 42);
  const KvEntry* e = kv.get("a");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->create_index, 5u);
  EXPECT_EQ(e->modify_index, 7u);
  EXPECT_EQ(e->flags, 42u);
  EXPECT_EQ(to_string(e->value), "2");
  EXPECT_EQ(kv.index(), 7u);
}

TEST(KvStore, CasZeroCreatesOnlyWhenAbsent) {
  KvStore kv;
  EXPECT_TRUE(kv.cas(2, "k", b("x"), 0, 0));
  EXPECT_FALSE(kv.cas(3, "k", b("y"), 0, 0));
  EXPECT_EQ(to_string(kv.get("k")->value), "x");
  EXPECT_FALSE(kv.cas(4, "k", b("y"), 0, 99));
  EXPECT_TRUE(kv.cas(5, "k", b("y"), 0, 2));
  EXPECT_EQ(kv.get("k")->modify_index, 5u);
}

TEST(KvStore, DeleteMovesTheIndex) {
  KvStore kv;
  kv.set(2, "a", b("1"), 0);
  kv.remove(3, "a");
  EXPECT_EQ(kv.get("a"), nullptr);
  EXPECT_EQ(kv.index(), 3u);  // blocking queries must see deletes
}

TEST(KvStore, DeleteCasNeedsTheExactIndex) {
  KvStore kv;
  kv.set(2, "a", b("1"), 0);
  EXPECT_FALSE(kv.remove_cas(3, "a", 0));
  EXPECT_FALSE(kv.remove_cas(4, "a", 3));
  EXPECT_TRUE(kv.remove_cas(5, "a", 2));
  EXPECT_EQ(kv.get("a"), nullptr);
}

TEST(KvStore, PrefixListAndTreeDelete) {
  KvStore kv;
  std::uint64_t i = 1;
  for (auto k : {"app/a", "app/b/c", "app/b/d", "apq", "zzz"}) kv.set(++i, k, b("v"), 0);
  auto list = kv.list("app/");
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0]->key, "app/a");
  EXPECT_EQ(list[2]->key, "app/b/d");
  kv.remove_tree(++i, "app/");
  EXPECT_EQ(kv.list("").size(), 2u);
  kv.remove_tree(++i, "");
  EXPECT_TRUE(kv.entries().empty());
}

TEST(KvStore, KeysRollUpAtTheSeparator) {
  KvStore kv;
  std::uint64_t i = 1;
  for (auto k : {"base/base/a", "base/base/b", "base/foo", "base/zip/x", "other"}) {
    kv.set(++i, k, b(""), 0);
  }
  EXPECT_EQ(kv.keys("base/", "/"),
            (std::vector<std::string>{"base/base/", "base/foo", "base/zip/"}));
  EXPECT_EQ(kv.keys("", "/"), (std::vector<std::string>{"base/", "other"}));
  EXPECT_EQ(kv.keys("base/", "").size(), 4u);
}

TEST(KvStoreDeathTest, IndexMayNotGoBackwards) {
  KvStore kv;
  kv.set(5, "a", b("1"), 0);
  EXPECT_DEATH(kv.set(4, "b", b("1"), 0), "backwards");
}

TEST(KvStore, FromEntriesRejectsInconsistentIndexes) {
  std::vector<KvEntry> entries(1);
  entries[0].key = "a";
  entries[0].create_index = 9;
  entries[0].modify_index = 3;
  EXPECT_FALSE(KvStore::from_entries(entries, 10));
  entries[0].create_index = 2;
  EXPECT_TRUE(KvStore::from_entries(entries, 10));
  EXPECT_FALSE(KvStore::from_entries(entries, 2));  // modify index above the table index
}

}  // namespace
}  // namespace praetor::catalog
