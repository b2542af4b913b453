// The transmit-limited broadcast queue (SWIM §4.1 infection-style dissemination): each queued
// message is piggybacked on outgoing packets until it has been sent retransmit_limit times. A new
// message about a member replaces any older one about the same member, so the queue carries only
// the freshest news. Least-transmitted messages go first, newest first among equals.
//
// Bounded: beyond `capacity` entries, the most-transmitted (oldest news) are dropped.
// Costs: push and each message taken are O(log n); a take stops as soon as the smallest queued
// message no longer fits, or after 32 messages in a row that are too big for the space left, so
// a full packet does not walk the whole queue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/bytes.hpp"

namespace praetor::gossip {

class BroadcastQueue {
 public:
  explicit BroadcastQueue(std::size_t capacity) : capacity_(capacity) {}

  // `key` names the member the message is about; messages with a key invalidate older messages
  // with the same key. An empty key never invalidates (user broadcasts).
  void push(std::string key, Bytes framed_message);
  // Takes messages whose sizes plus `overhead` each fit in `limit` bytes in total; each one taken
  // counts a transmit and retires after `transmit_limit` transmits.
  std::vector<Bytes> take(std::size_t overhead, std::size_t limit, int transmit_limit);
  // The same walk, appending the messages taken (with no per-message overhead) to `packet` and
  // taking at most `max_count` of them; returns how many it appended. No allocation besides
  // `packet`'s growth: the form the send path uses.
  std::size_t take_into(Bytes& packet, std::size_t limit, int transmit_limit,
                        std::size_t max_count);
  // Retires everything that already reached a (smaller) limit: the limit falls as n shrinks.
  void prune(int transmit_limit);

  std::size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }
  std::uint64_t dropped() const { return dropped_; }
  void check_invariants() const;

 private:
  // Position in the send order: fewest transmits first, then newest (highest id) first.
  struct Rank {
    int transmits = 0;
    std::uint64_t id = 0;
    friend bool operator<(const Rank& a, const Rank& b) {
      if (a.transmits != b.transmits) return a.transmits < b.transmits;
      return a.id > b.id;
    }
  };
  // member name -> rank of its queued message. Map iterators are stable, so each item keeps its
  // entry's iterator and a re-rank never searches by name.
  using Keyed = std::map<std::string, Rank, std::less<>>;
  struct Item {
    std::optional<Keyed::iterator> key;  // none for user broadcasts
    Bytes message;
  };
  using Order = std::map<Rank, Item>;

  template <typename Sink>
  void walk(std::size_t overhead, std::size_t limit, int transmit_limit, std::size_t max_count,
            Sink&& sink);
  void erase(Order::iterator it);
  void count_size(std::size_t size, int delta);

  static constexpr int kMaxMisses = 32;  // consecutive messages too big for the space left

  std::size_t capacity_;
  std::uint64_t next_id_ = 1;
  std::uint64_t dropped_ = 0;
  // One tree node per message; a transmit re-ranks it by moving the node (no allocation).
  Order order_;
  Keyed keyed_;
  std::map<std::size_t, std::uint32_t> sizes_;      // message size -> how many (for the early stop)
  std::vector<Order::node_type> retaken_;           // scratch for walk(), kept for its capacity
};

}  // namespace praetor::gossip
