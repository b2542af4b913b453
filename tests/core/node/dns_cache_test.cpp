// DnsAnswerCache (D63): kept answers come back with the asking query's id, per transport, only at
// the catalog index they were built at; answers with an authority section are not kept; memory
// stays within its bounds.
#include <gtest/gtest.h>

#include "core/node/dns_cache.hpp"

namespace praetor::node {
namespace {

// A 12-byte header (id, then `flags`) followed by `rest`.
Bytes message(std::uint16_t id, std::uint8_t flags, std::string_view rest, bool authority = false) {
  Bytes b{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id & 0xff), flags, 0,
          0, 1, 0, 1, 0, static_cast<std::uint8_t>(authority ? 1 : 0), 0, 0};
  b.insert(b.end(), rest.begin(), rest.end());
  return b;
}

TEST(DnsAnswerCache, AKeptAnswerComesBackWithTheQueryIdAtTheSameIndexOnly) {
  DnsAnswerCache cache;
  const Bytes q1 = message(0x0101, 0x01, "question");
  const Bytes answer = message(0x0101, 0x85, "question+answer");
  EXPECT_FALSE(cache.find(q1, false, 7));
  cache.store(q1, false, 7, answer);
  auto hit = cache.find(message(0xBEEF, 0x01, "question"), false, 7);
  ASSERT_TRUE(hit);
  EXPECT_EQ((*hit)[0], 0xBE);
  EXPECT_EQ((*hit)[1], 0xEF);
  EXPECT_TRUE(std::equal(hit->begin() + 2, hit->end(), answer.begin() + 2));
  EXPECT_FALSE(cache.find(q1, true, 7));                               // other transport
  EXPECT_FALSE(cache.find(message(1, 0x00, "question"), false, 7));   // other flags
  EXPECT_FALSE(cache.find(message(1, 0x01, "questioN"), false, 7));   // other case
  EXPECT_FALSE(cache.find(q1, false, 8));                              // the catalog moved
  EXPECT_EQ(cache.entries(), 0U);
  EXPECT_FALSE(cache.find(q1, false, 7));  // and what was kept is gone, even at the old index
  cache.check_invariants();
}

TEST(DnsAnswerCache, AnswersWithAnAuthoritySectionAndOddSizesAreNotKept) {
  DnsAnswerCache cache;
  const Bytes q = message(1, 0x01, "q");
  cache.store(q, false, 1, message(1, 0x85, "q+soa", true));
  EXPECT_EQ(cache.entries(), 0U);
  cache.store(Bytes{1, 2, 3}, false, 1, message(1, 0x85, "a"));
  cache.store(message(1, 1, std::string(DnsAnswerCache::kMaxQueryBytes, 'x')), false, 1,
              message(1, 0x85, "a"));
  EXPECT_EQ(cache.entries(), 0U);
  EXPECT_FALSE(cache.find(Bytes{1, 2, 3}, false, 1));
  cache.check_invariants();
}

TEST(DnsAnswerCache, PastItsEntryBoundItStartsAgainEmpty) {
  DnsAnswerCache cache;
  for (std::size_t i = 0; i <= DnsAnswerCache::kMaxEntries; ++i) {
    cache.store(message(1, 1, std::to_string(i)), false, 3, message(1, 0x85, "a"));
    cache.check_invariants();
  }
  EXPECT_EQ(cache.entries(), 1U);  // the last one, after the cache was emptied
  EXPECT_TRUE(cache.find(message(2, 1, std::to_string(DnsAnswerCache::kMaxEntries)), false, 3));
  EXPECT_FALSE(cache.find(message(2, 1, "0"), false, 3));
}

}  // namespace
}  // namespace praetor::node
