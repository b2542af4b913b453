#include "core/gossip/broadcast_queue.hpp"

#include <iterator>
#include <utility>

#include "core/base/assert.hpp"

namespace praetor::gossip {

void BroadcastQueue::erase(std::uint64_t id) {
  auto it = items_.find(id);
  PRAETOR_ASSERT(it != items_.end());
  order_.erase(Rank{it->second.transmits, id});
  sizes_.erase(sizes_.find(it->second.message.size()));
  if (!it->second.key.empty()) keyed_.erase(it->second.key);
  items_.erase(it);
}

void BroadcastQueue::push(std::string key, Bytes framed_message) {
  if (!key.empty()) {
    auto old = keyed_.find(key);
    if (old != keyed_.end()) erase(old->second);
  }
  const std::uint64_t id = next_id_++;
  if (!key.empty()) keyed_.emplace(key, id);
  sizes_.insert(framed_message.size());
  order_.insert(Rank{0, id});
  items_.emplace(id, Item{0, std::move(key), std::move(framed_message)});
  while (order_.size() > capacity_) {
    erase(std::prev(order_.end())->id);  // most transmitted, oldest
    ++dropped_;
  }
  PRAETOR_ASSERT(order_.size() <= capacity_);
}

std::vector<Bytes> BroadcastQueue::take(std::size_t overhead, std::size_t limit,
                                        int transmit_limit) {
  std::vector<Bytes> out;
  std::vector<Rank> retaken;
  std::size_t used = 0;
  int misses = 0;
  for (auto it = order_.begin(); it != order_.end();) {
    // Nothing left in the queue can fit any more.
    if (sizes_.empty() || used + overhead + *sizes_.begin() > limit) break;
    Item& item = items_.at(it->id);
    const std::size_t cost = overhead + item.message.size();
    if (used + cost > limit) {
      // A nearly full packet stops looking after a few misses instead of walking a queue of
      // thousands for a message small enough (memberlist also fills the tail best-effort).
      if (++misses >= kMaxMisses) break;
      ++it;
      continue;
    }
    misses = 0;
    used += cost;
    const Rank rank = *it;
    it = order_.erase(it);
    ++item.transmits;
    if (item.transmits < transmit_limit) {
      out.push_back(item.message);
      retaken.push_back(Rank{item.transmits, rank.id});
    } else {
      out.push_back(std::move(item.message));
      sizes_.erase(sizes_.find(out.back().size()));
      if (!item.key.empty()) keyed_.erase(item.key);
      items_.erase(rank.id);
    }
  }
  // Re-rank after the walk so an entry is never taken twice in one packet.
  for (const Rank& r : retaken) order_.insert(r);
  PRAETOR_ASSERT(used <= limit);
  return out;
}

void BroadcastQueue::prune(int transmit_limit) {
  std::vector<std::uint64_t> done;
  for (const Rank& r : order_) {
    if (r.transmits >= transmit_limit) done.push_back(r.id);
  }
  for (std::uint64_t id : done) erase(id);
}

void BroadcastQueue::check_invariants() const {
  PRAETOR_ASSERT(order_.size() <= capacity_);
  PRAETOR_ASSERT(items_.size() == order_.size() && sizes_.size() == order_.size());
  PRAETOR_ASSERT(keyed_.size() <= items_.size());
  for (const Rank& r : order_) PRAETOR_ASSERT(r.id < next_id_);
}

}  // namespace praetor::gossip
