#include "core/gossip/broadcast_queue.hpp"

#include <iterator>
#include <utility>

#include "core/base/assert.hpp"

namespace praetor::gossip {

void BroadcastQueue::push(std::string key, Bytes framed_message) {
  if (!key.empty()) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = (it->key == key) ? entries_.erase(it) : std::next(it);
    }
  }
  entries_.insert(Entry{0, next_id_++, std::move(key), std::move(framed_message)});
  while (entries_.size() > capacity_) {
    entries_.erase(std::prev(entries_.end()));  // most transmitted, oldest
    ++dropped_;
  }
  PRAETOR_ASSERT(entries_.size() <= capacity_);
}

std::vector<Bytes> BroadcastQueue::take(std::size_t overhead, std::size_t limit,
                                        int transmit_limit) {
  std::vector<Bytes> out;
  std::vector<Entry> retaken;
  std::size_t used = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    const std::size_t cost = overhead + it->message.size();
    if (used + cost > limit) {
      ++it;
      continue;
    }
    used += cost;
    out.push_back(it->message);
    Entry e = *it;
    it = entries_.erase(it);
    ++e.transmits;
    if (e.transmits < transmit_limit) retaken.push_back(std::move(e));
  }
  // Re-insert after the walk so an entry is never taken twice in one packet.
  for (auto& e : retaken) entries_.insert(std::move(e));
  PRAETOR_ASSERT(used <= limit);
  return out;
}

void BroadcastQueue::prune(int transmit_limit) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = (it->transmits >= transmit_limit) ? entries_.erase(it) : std::next(it);
  }
}

void BroadcastQueue::check_invariants() const {
  PRAETOR_ASSERT(entries_.size() <= capacity_);
  for (const Entry& e : entries_) PRAETOR_ASSERT(e.id < next_id_);
}

}  // namespace praetor::gossip
