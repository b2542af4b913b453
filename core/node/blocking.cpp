// Blocking queries (consul-compat §3.1): a read with ?index=N waits until the index it watches
// passes N or its ?wait ends, then answers with the state as it is then. Parked requests are
// routed again when they wake, so a handler is the only place that knows how to read; the watch
// function is the only place that knows which index the read depends on.
#include <algorithm>
#include <charconv>

#include "core/base/assert.hpp"
#include "core/base/duration.hpp"
#include "core/base/limits.hpp"
#include "core/node/agent.hpp"

namespace praetor::node {
namespace {

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

struct BlockingParams {
  std::uint64_t index = 0;
  Duration wait = Duration::milliseconds(limits::kBlockingWaitDefaultMs);
};

Result<BlockingParams> parse_blocking(const HttpRequest& request) {
  BlockingParams p;
  if (auto index = request.query_value("index"); index && !index->empty()) {
    if (!parse_u64(*index, p.index)) return make_error(ErrorCode::kInvalidArgument, "Invalid index");
  }
  if (auto wait = request.query_value("wait"); wait && !wait->empty()) {
    auto d = parse_go_duration(*wait);
    if (!d || d->count_ns() < 0) {
      return make_error(ErrorCode::kInvalidArgument, "Invalid wait time");
    }
    p.wait = std::min(*d, Duration::milliseconds(limits::kBlockingWaitMaxMs));
  }
  return p;
}

}  // namespace

void Agent::serve_read(RequestId id, HttpRequest& request, const Watch& watch, const Render& render,
                       IndexOrder order, bool cacheable) {
  auto blocking = parse_blocking(request);
  if (!blocking) {
    respond(id, HttpResponse::text(400, blocking.error().message));
    return;
  }
  const std::uint64_t index = watch(fsm_);
  // Every read passes here: the watch is copied into a Parked only when the read parks.
  if (!replaying_ && blocking->index > 0 && !stopping_ &&
      Parked::waiting(index, blocking->index, order)) {
    if (parked_.size() >= limits::kHttpMaxPendingRequests) {
      respond(id, HttpResponse::text(429, "Too many blocking queries"));
      return;
    }
    // Consul adds up to wait/16 of jitter so that many watchers do not return in lockstep.
    const Duration jitter = Duration::nanoseconds(static_cast<std::int64_t>(
        rng_.uniform(static_cast<std::uint64_t>(blocking->wait.count_ns() / 16) + 1)));
    const Instant deadline = env_->clock.now() + blocking->wait + jitter;
    // Reads of the same request (method, path, parameters but ?index and ?wait, body, origin)
    // run the same handler with the same arguments, so they watch the same index: a commit
    // computes it once per group, and wakes the members whose min_index it passed.
    std::string group = request.method;
    group += '\0';
    group += RenderCache::key(request, request.origin_node);
    group += '\0';
    group += request.body;
    auto [g, created] = watch_groups_.try_emplace(group);
    if (created) {
      g->second.watch = watch;
      g->second.order = order;
    }
    PRAETOR_ASSERT(g->second.order == order);
    g->second.waiting.emplace(blocking->index, id);
    parked_deadlines_.emplace(deadline, id);
    parked_.emplace(
        id, Parked{std::move(request), blocking->index, deadline, watch, order, std::move(group)});
    arm_timer();
    return;
  }
  HttpResponse response;
  if (cacheable) {
    std::string key = RenderCache::key(request, config_.datacenter);
    if (const HttpResponse* cached = render_cache_.find(key, index)) {
      response = *cached;
    } else {
      response = render();
      render_cache_.store(std::move(key), index, response);
    }
  } else {
    response = render();
  }
  decorate(response, index);
  response.set_header("X-Consul-Effective-Consistency",
                      request.has_query("stale") ? "stale" : "leader");
  if (request.method == "HEAD") response.body.clear();
  respond(id, std::move(response));
}

void Agent::wake_parked(Instant now, bool expired_only) {
  std::vector<RequestId> done;
  for (auto it = parked_deadlines_.begin(); it != parked_deadlines_.end() && it->first <= now;
       ++it) {
    done.push_back(it->second);
  }
  if (!expired_only) {
    for (const auto& [key, group] : watch_groups_) {
      const std::uint64_t index = group.watch(fsm_);
      for (const auto& [min_index, id] : group.waiting) {
        if (group.order == IndexOrder::kMonotonic && min_index >= index) break;  // sorted
        if (!Parked::waiting(index, min_index, group.order)) done.push_back(id);
      }
    }
  }
  // Answered in request order, as when every parked read was checked in turn.
  std::sort(done.begin(), done.end());
  done.erase(std::unique(done.begin(), done.end()), done.end());
  for (RequestId id : done) {
    auto it = parked_.find(id);
    Parked parked = std::move(it->second);
    parked_.erase(it);
    unpark(id, parked);
    // Re-run the read: the answer reflects the state now, whether the index moved or not, and
    // it is never parked a second time.
    replaying_ = true;
    route(id, std::move(parked.request));
    replaying_ = false;
  }
  arm_timer();
}

void Agent::unpark(RequestId id, Parked& parked) {
  parked_deadlines_.erase({parked.deadline, id});
  auto g = watch_groups_.find(parked.group);
  PRAETOR_ASSERT(g != watch_groups_.end());
  g->second.waiting.erase({parked.min_index, id});
  if (g->second.waiting.empty()) watch_groups_.erase(g);
}

}  // namespace praetor::node
