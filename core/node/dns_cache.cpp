#include "core/node/dns_cache.hpp"

#include "core/base/assert.hpp"

namespace praetor::node {

std::string_view DnsAnswerCache::key_of(ByteView query) {
  // Past the 16-bit id: the rest of the header (flags, counts), the question and any EDNS record.
  return std::string_view(reinterpret_cast<const char*>(query.data()) + 2, query.size() - 2);
}

std::optional<Bytes> DnsAnswerCache::find(ByteView query, bool tcp, std::uint64_t catalog_index) {
  if (query.size() < 12 || query.size() > kMaxQueryBytes) return std::nullopt;
  if (catalog_index != index_) {
    clear();
    index_ = catalog_index;
    return std::nullopt;
  }
  const Map& map = tcp ? tcp_ : udp_;
  auto it = map.find(key_of(query));
  if (it == map.end()) return std::nullopt;
  Bytes answer = it->second;
  answer[0] = query[0];
  answer[1] = query[1];
  return answer;
}

void DnsAnswerCache::store(ByteView query, bool tcp, std::uint64_t catalog_index,
                           const Bytes& answer) {
  if (query.size() < 12 || query.size() > kMaxQueryBytes || answer.size() < 12) return;
  // An authority section (a NODATA answer's SOA) carries the current time as its serial.
  if (answer[8] != 0 || answer[9] != 0) return;
  if (catalog_index != index_) {
    clear();
    index_ = catalog_index;
  }
  const std::size_t cost = query.size() + answer.size();
  if (entries() >= kMaxEntries || bytes_ + cost > kMaxBytes) clear();
  Map& map = tcp ? tcp_ : udp_;
  auto [it, inserted] = map.try_emplace(std::string(key_of(query)), answer);
  if (inserted) bytes_ += cost;
}

void DnsAnswerCache::clear() {
  udp_.clear();
  tcp_.clear();
  bytes_ = 0;
}

void DnsAnswerCache::check_invariants() const {
  PRAETOR_ASSERT(entries() <= kMaxEntries);
  PRAETOR_ASSERT(bytes_ <= kMaxBytes);
  PRAETOR_ASSERT(entries() == 0 || bytes_ > 0);
}

}  // namespace praetor::node
