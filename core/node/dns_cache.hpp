// Encoded DNS answers kept for reuse (decision D63). A server answering a lookup of its own
// datacenter from its own catalog produces the same bytes for the same query (past the 16-bit
// id) as long as the catalog has not changed — when the answer holds one instance, so there is
// no order to shuffle. Such answers are kept under the query's bytes past the id (name in its
// case, flags, EDNS payload size: everything the answer depends on besides the catalog and the
// configuration) and the transport, together with the catalog index they were built at; a query
// with the same bytes, at the same index, gets a copy with its own id, without being decoded,
// planned, looked up or encoded.
//
// Anything that could make the kept answer differ empties it: a new catalog index (any write
// to nodes, services or checks), a reload (clear()). Answers that are not kept: several
// instances (Consul shuffles them per query), answers with an authority section (NXDOMAIN and
// NODATA: their SOA carries the current time as its serial), other datacenters' (not from our catalog), recursion. Memory is bounded
// by kMaxEntries and kMaxBytes: past either, the cache starts again empty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/base/bytes.hpp"

namespace praetor::node {

class DnsAnswerCache {
 public:
  static constexpr std::size_t kMaxEntries = 16384;
  static constexpr std::size_t kMaxBytes = 16 * 1024 * 1024;
  static constexpr std::size_t kMaxQueryBytes = 512;  // longer queries are not kept

  // The answer kept for `query` (a whole DNS message, id first) over `tcp`, if it was built at
  // `catalog_index`, with the query's id; nullopt otherwise.
  std::optional<Bytes> find(ByteView query, bool tcp, std::uint64_t catalog_index);
  void store(ByteView query, bool tcp, std::uint64_t catalog_index, const Bytes& answer);
  void clear();

  std::size_t entries() const { return udp_.size() + tcp_.size(); }
  std::size_t bytes() const { return bytes_; }
  void check_invariants() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Map = std::unordered_map<std::string, Bytes, Hash, std::equal_to<>>;
  static std::string_view key_of(ByteView query);

  Map udp_, tcp_;
  std::uint64_t index_ = 0;  // the catalog index every kept answer was built at
  std::size_t bytes_ = 0;
};

}  // namespace praetor::node
