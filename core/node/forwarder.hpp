// The forwarder: the bookkeeping of requests this agent hands to another (a client agent to a
// server, a follower to the leader) and of requests other agents hand to it. It owns the ids,
// the deadlines, the duplicate filter and where each answer goes; the agent owns the sockets and
// the routing. Pure: time comes in as arguments, ids start from the agent's seeded Rng.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/duration.hpp"
#include "core/base/ids.hpp"
#include "core/base/instant.hpp"
#include "core/base/rng.hpp"
#include "core/node/http.hpp"
#include "core/node/rpc.hpp"

namespace praetor::node {

class Forwarder {
 public:
  // An answer that does not come (the leader crashed, the connection broke) is reported as a
  // 500 and the client retries: the write may or may not have committed, as with any lost reply.
  static constexpr Duration kTimeout = Duration::seconds(10);

  // A fresh process: a new nonce and a random first forward id. Answers are matched by id, and a
  // leader may answer long after (a parked blocking query), so ids that restarted at 1 with the
  // process would hand an earlier incarnation's answer to a new request (blocking_sim_test found
  // it); a random start in a 2^62 space makes that a non-event.
  void start(Rng& rng);

  // --- Requests we send -----------------------------------------------------------------------
  // Records `id` as waiting for an answer and returns the frame to send. A blocking query may
  // park at the other end for its wait (+ jitter), a client's request may take two hops: the
  // deadline allows for both.
  // `datacenter` names the datacenter of `to` when the request crosses the WAN (`?dc=`); it
  // goes out marked so, and its time-out says which datacenter did not answer.
  ForwardRequest send(RequestId id, HttpRequest request, bool from_client, Instant now,
                      std::string to = {}, std::string datacenter = {});
  // Where a request still waiting for its answer was sent ("" when unknown or answered).
  std::string target_of(RequestId id) const;
  // The request an answer belongs to; nullopt when it timed out or failed already.
  std::optional<RequestId> take_answered(std::uint64_t forward_id);
  struct Expired {
    RequestId request;
    std::string to;          // where it went
    std::string datacenter;  // set when it crossed the WAN
  };
  std::vector<Expired> take_expired(Instant now);
  std::vector<RequestId> take_all();  // a leader change: outcomes unknown
  Instant next_deadline() const;
  std::size_t waiting() const { return out_.size(); }

  // --- Requests we take -----------------------------------------------------------------------
  struct Origin {
    std::string address;  // the sender's address (answers go back over its connection)
    std::uint64_t forward_id = 0;
    bool from_client = false;  // a client agent's request: may be forwarded on to the leader
    bool from_wan = false;     // another datacenter's server sent it
  };
  // The local id to route a forwarded request under, or nullopt for a duplicated frame (a CAS
  // run twice would answer "false" for a write that happened).
  std::optional<RequestId> accept(const ForwardRequest& request, std::string origin, Instant now);
  // Where the answer to `id` goes, if it was forwarded to us; forgets it.
  std::optional<Origin> take_origin(RequestId id);
  // Whether `id` came from another agent, and whether it may be forwarded once more: a client's
  // request may go on to the leader; a follower's may not (it believed we lead, and we do not
  // any more): never forward twice between servers.
  static bool is_forwarded(RequestId id) { return (id.value() & kForwardedBit) != 0; }
  bool may_forward(RequestId id) const;
  // Whether `id` came over the WAN: it must not cross it again (no loops between datacenters).
  bool came_from_wan(RequestId id) const;

  void check_invariants() const;

 private:
  static constexpr std::uint64_t kForwardedBit = std::uint64_t{1} << 63;
  static constexpr std::size_t kMaxSeen = 65536;

  struct Out {
    RequestId request;
    Instant deadline;
    std::string to;
    std::string datacenter;
  };
  std::map<std::uint64_t, Out> out_;
  std::uint64_t next_id_ = 1;
  std::uint64_t nonce_ = 0;
  std::map<RequestId, Origin> in_;
  // Forwarded requests already taken, keyed by (sender nonce, forward id), with when.
  std::map<std::pair<std::uint64_t, std::uint64_t>, Instant> seen_;
  std::uint64_t next_in_ = 0;
};

}  // namespace praetor::node
