#include "core/node/forwarder.hpp"

#include <algorithm>

#include "core/base/assert.hpp"
#include "core/base/limits.hpp"

namespace praetor::node {

void Forwarder::start(Rng& rng) {
  nonce_ = rng.next_u64();
  next_id_ = (rng.next_u64() >> 2) + 1;
}

std::string Forwarder::target_of(RequestId id) const {
  for (const auto& [fid, o] : out_) {
    if (o.request == id) return o.to;
  }
  return {};
}

ForwardRequest Forwarder::send(RequestId id, HttpRequest request, bool from_client, Instant now,
                               std::string to, std::string datacenter) {
  const std::uint64_t fid = next_id_++;
  Duration wait = Duration::zero();
  if (request.query_value("index").value_or("0") != "0") {
    // A blocking query parks at the other end for its wait (default 5 min, max 10) + jitter.
    wait = Duration::milliseconds(limits::kBlockingWaitDefaultMs);
    if (auto w = request.query_value("wait")) {
      if (auto d = parse_go_duration(*w)) wait = *d;
    }
    wait = std::min(wait, Duration::milliseconds(limits::kBlockingWaitMaxMs));
    wait = wait + wait / 16;
  }
  // A hop across the WAN gets the plain timeout even for a client's request: the client waits
  // twice that, so the server's answer naming the silent datacenter reaches it first.
  const Duration timeout = from_client && datacenter.empty() ? kTimeout * 2 : kTimeout;
  const bool from_wan = !datacenter.empty();
  out_[fid] = Out{id, now + wait + timeout, std::move(to), std::move(datacenter)};
  ForwardRequest f;
  f.sender_nonce = nonce_;
  f.forward_id = fid;
  f.method = std::move(request.method);
  f.path = std::move(request.path);
  f.query = std::move(request.query);
  f.body = std::move(request.body);
  f.from_client = from_client;
  f.origin_node = std::move(request.origin_node);
  f.from_wan = from_wan;
  return f;
}

std::optional<RequestId> Forwarder::take_answered(std::uint64_t forward_id) {
  auto it = out_.find(forward_id);
  if (it == out_.end()) return std::nullopt;
  const RequestId request = it->second.request;
  out_.erase(it);
  return request;
}

std::vector<Forwarder::Expired> Forwarder::take_expired(Instant now) {
  std::vector<Expired> expired;
  for (auto it = out_.begin(); it != out_.end();) {
    if (it->second.deadline <= now) {
      expired.push_back(
          Expired{it->second.request, std::move(it->second.to), std::move(it->second.datacenter)});
      it = out_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

std::vector<RequestId> Forwarder::take_all() {
  std::vector<RequestId> all;
  for (const auto& [fid, o] : out_) all.push_back(o.request);
  out_.clear();
  return all;
}

Instant Forwarder::next_deadline() const {
  Instant earliest = Instant::never();
  for (const auto& [fid, o] : out_) earliest = std::min(earliest, o.deadline);
  return earliest;
}

std::optional<RequestId> Forwarder::accept(const ForwardRequest& request, std::string origin,
                                           Instant now) {
  const auto key = std::make_pair(request.sender_nonce, request.forward_id);
  if (seen_.contains(key)) return std::nullopt;
  // Remember requests for longer than a sender waits for any answer; bound the memory.
  const Duration keep = Duration::milliseconds(limits::kBlockingWaitMaxMs) * 2;
  while (!seen_.empty() &&
         (seen_.size() >= kMaxSeen || seen_.begin()->second + keep < now)) {
    // Oldest first is approximate (keys are not time-ordered); the cap keeps it bounded.
    seen_.erase(seen_.begin());
  }
  seen_.emplace(key, now);
  const RequestId id(kForwardedBit | ++next_in_);
  in_[id] = Origin{std::move(origin), request.forward_id, request.from_client, request.from_wan};
  return id;
}

std::optional<Forwarder::Origin> Forwarder::take_origin(RequestId id) {
  auto it = in_.find(id);
  if (it == in_.end()) return std::nullopt;
  Origin o = std::move(it->second);
  in_.erase(it);
  return o;
}

bool Forwarder::may_forward(RequestId id) const {
  if (!is_forwarded(id)) return true;
  auto it = in_.find(id);
  return it != in_.end() && it->second.from_client;
}

bool Forwarder::came_from_wan(RequestId id) const {
  if (!is_forwarded(id)) return false;
  auto it = in_.find(id);
  return it != in_.end() && it->second.from_wan;
}

void Forwarder::check_invariants() const {
  PRAETOR_ASSERT(seen_.size() <= kMaxSeen);
  for (const auto& [id, o] : in_) PRAETOR_ASSERT(is_forwarded(id));
  for (const auto& [fid, o] : out_) {
    PRAETOR_ASSERT(fid < next_id_);
    PRAETOR_ASSERT(o.deadline != Instant::never());
  }
}

}  // namespace praetor::node
