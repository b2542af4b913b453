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
  if (it->second.key) keyed_.erase(*it->second.key);
  order_.erase(it);
}

void BroadcastQueue::push(std::string key, Bytes framed_message) {
  const Rank rank{0, next_id_++};
  std::optional<Keyed::iterator> keyed;
  if (!key.empty()) {
    auto old = keyed_.find(key);
    if (old != keyed_.end()) {
      auto item = order_.find(old->second);
      PRAETOR_ASSERT(item != order_.end());
      count_size(item->second.message.size(), -1);
      order_.erase(item);
      old->second = rank;
    } else {
      old = keyed_.emplace(std::move(key), rank).first;
    }
    keyed = old;
  }
  count_size(framed_message.size(), 1);
  order_.emplace(rank, Item{keyed, std::move(framed_message)});
  while (order_.size() > capacity_) {
    erase(std::prev(order_.end()));  // most transmitted, oldest
    ++dropped_;
  }
  PRAETOR_ASSERT(order_.size() <= capacity_);
}

// One walk for both forms of take: `sink(message, retiring)` receives each message taken; a
// retiring message may be moved from.
template <typename Sink>
void BroadcastQueue::walk(std::size_t overhead, std::size_t limit, int transmit_limit,
                          std::size_t max_count, Sink&& sink) {
  // Re-ranked entries wait in retaken_ until the walk ends, so an entry is never taken twice in
  // one packet (the member keeps its capacity across calls).
  retaken_.clear();
  std::size_t used = 0;
  std::size_t count = 0;
  int misses = 0;
  for (auto it = order_.begin(); it != order_.end() && count < max_count;) {
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
    ++count;
    const int transmits = it->first.transmits + 1;
    if (transmits < transmit_limit) {
      sink(it->second.message, false);
      auto next = std::next(it);
      retaken_.push_back(order_.extract(it));
      retaken_.back().key().transmits = transmits;
      it = next;
    } else {
      count_size(it->second.message.size(), -1);
      sink(it->second.message, true);
      if (it->second.key) keyed_.erase(*it->second.key);
      it = order_.erase(it);
    }
  }
  for (Order::node_type& node : retaken_) {
    if (node.mapped().key) (*node.mapped().key)->second = node.key();
    order_.insert(std::move(node));
  }
  retaken_.clear();
  PRAETOR_ASSERT(used <= limit);
}

std::vector<Bytes> BroadcastQueue::take(std::size_t overhead, std::size_t limit,
                                        int transmit_limit) {
  std::vector<Bytes> out;
  walk(overhead, limit, transmit_limit, std::numeric_limits<std::size_t>::max(),
       [&out](Bytes& message, bool retiring) {
         out.push_back(retiring ? std::move(message) : message);
       });
  return out;
}

std::size_t BroadcastQueue::take_into(Bytes& packet, std::size_t limit, int transmit_limit,
                                      std::size_t max_count) {
  std::size_t count = 0;
  walk(0, limit, transmit_limit, max_count, [&](const Bytes& message, bool) {
    packet.insert(packet.end(), message.begin(), message.end());
    ++count;
  });
  return count;
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
  for (auto k = keyed_.begin(); k != keyed_.end(); ++k) {
    auto it = order_.find(k->second);
    PRAETOR_ASSERT(it != order_.end() && it->second.key == k);
  }
  for (const auto& [rank, item] : order_) PRAETOR_ASSERT(rank.id < next_id_);
}

}  // namespace praetor::gossip
