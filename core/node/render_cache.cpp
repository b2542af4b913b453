#include "core/node/render_cache.hpp"

namespace praetor::node {

namespace {

// Each part length-prefixed, so that no choice of bytes in a path or parameter makes two
// different requests share a key.
void add_part(std::string& out, std::string_view part) {
  out += std::to_string(part.size());
  out += ':';
  out += part;
}

}  // namespace

std::string RenderCache::key(const HttpRequest& request, const std::string& datacenter) {
  std::string out;
  add_part(out, datacenter);
  add_part(out, request.path);
  for (const auto& [name, value] : request.query) {
    if (name == "index" || name == "wait" || name == "stale" || name == "consistent") continue;
    add_part(out, name);
    add_part(out, value);
  }
  return out;
}

const HttpResponse* RenderCache::find(const std::string& key, std::uint64_t index) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (it->second.index != index) {
    // The index moved (it never goes back): this answer is stale for good.
    erase(it);
    return nullptr;
  }
  recent_.splice(recent_.begin(), recent_, it->second.recent);
  return &it->second.response;
}

void RenderCache::store(std::string key, std::uint64_t index, const HttpResponse& response) {
  const std::size_t size = response.body.size();
  if (response.status != 200 || size < kMinBytes || size > kMaxBytes) return;
  if (auto it = entries_.find(key); it != entries_.end()) erase(it);
  while (!entries_.empty() && (entries_.size() >= kMaxEntries || bytes_ + size > kMaxBytes)) {
    erase(entries_.find(*recent_.back()));
  }
  auto it = entries_.emplace(std::move(key), Entry{index, response, {}}).first;
  recent_.push_front(&it->first);
  it->second.recent = recent_.begin();
  bytes_ += size;
}

void RenderCache::clear() {
  entries_.clear();
  recent_.clear();
  bytes_ = 0;
}

void RenderCache::erase(std::map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.response.body.size();
  recent_.erase(it->second.recent);
  entries_.erase(it);
}

}  // namespace praetor::node
