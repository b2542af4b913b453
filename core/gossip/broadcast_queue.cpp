#include "core/gossip/broadcast_queue.hpp"

#include <iterator>
#include <utility>

#include "core/base/assert.hpp"

namespace praetor::gossip {

void BroadcastQueue::count_size(std::size_t size, int delta) {
  if (delta > 0) {
    ++sizes_[size];
    return;
  }
  auto it = sizes_.find(size);
  PRAETOR_ASSERT(it != sizes_.end() && it->second > 0);
  if (--it->second == 0) sizes_.erase(it);
}

void BroadcastQueue::erase(Order::iterator it) {
  count_size(it->second.message.size(), -1);
  if (!it->second.key.empty()) keyed_.erase(it->second.key);
  order_.erase(it);
}

void BroadcastQueue::push(std::string key, Bytes framed_message) {
  const Rank rank{0, next_id_++};
  if (!key.empty()) {
    auto old = keyed_.find(key);
    if (old != keyed_.end()) {
      auto item = order_.find(old->second);
      PRAETOR_ASSERT(item != order_.end());
      count_size(item->second.message.size(), -1);
      order_.erase(item);
      old->second = rank;
    } else {
      keyed_.emplace(key, rank);
    }
  }
  count_size(framed_message.size(), 1);
  order_.emplace(rank, Item{std::move(key), std::move(framed_message)});
  while (order_.size() > capacity_) {
    erase(std::prev(order_.end()));  // most transmitted, oldest
    ++dropped_;
  }
  PRAETOR_ASSERT(order_.size() <= capacity_);
}

std::vector<Bytes> BroadcastQueue::take(std::size_t overhead, std::size_t limit,
                                        int transmit_limit) {
  std::vector<Bytes> out;
  std::vector<Order::node_type> retaken;
  std::size_t used = 0;
  int misses = 0;
  for (auto it = order_.begin(); it != order_.end();) {
    // Nothing left in the queue can fit any more.
    if (sizes_.empty() || used + overhead + sizes_.begin()->first > limit) break;
    const std::size_t cost = overhead + it->second.message.size();
    if (used + cost > limit) {
      // A nearly full packet stops looking after a few misses instead of walking a queue of
      // thousands for a message small enough (memberlist also fills the tail best-effort).
      if (++misses >= kMaxMisses) break;
      ++it;
      continue;
    }
    misses = 0;
    used += cost;
    const int transmits = it->first.transmits + 1;
    if (transmits < transmit_limit) {
      out.push_back(it->second.message);
      auto next = std::next(it);
      retaken.push_back(order_.extract(it));
      retaken.back().key().transmits = transmits;
      it = next;
    } else {
      out.push_back(std::move(it->second.message));
      count_size(out.back().size(), -1);
      if (!it->second.key.empty()) keyed_.erase(it->second.key);
      it = order_.erase(it);
    }
  }
  // Re-rank after the walk so an entry is never taken twice in one packet.
  for (Order::node_type& node : retaken) {
    if (!node.mapped().key.empty()) keyed_.at(node.mapped().key) = node.key();
    order_.insert(std::move(node));
  }
  PRAETOR_ASSERT(used <= limit);
  return out;
}

void BroadcastQueue::prune(int transmit_limit) {
  for (auto it = order_.begin(); it != order_.end();) {
    if (it->first.transmits >= transmit_limit) {
      auto next = std::next(it);
      erase(it);
      it = next;
    } else {
      ++it;
    }
  }
}

void BroadcastQueue::check_invariants() const {
  PRAETOR_ASSERT(order_.size() <= capacity_);
  std::size_t sized = 0;
  for (const auto& [size, n] : sizes_) sized += n;
  PRAETOR_ASSERT(sized == order_.size());
  PRAETOR_ASSERT(keyed_.size() <= order_.size());
  for (const auto& [key, rank] : keyed_) {
    auto it = order_.find(rank);
    PRAETOR_ASSERT(it != order_.end() && it->second.key == key);
  }
  for (const auto& [rank, item] : order_) PRAETOR_ASSERT(rank.id < next_id_);
}

}  // namespace praetor::gossip
