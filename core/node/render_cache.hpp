// Rendered answers kept for reuse (decision D43). A 1,000-instance /v1/health/service
// answer is about 700 KB of JSON: rendering it costs milliseconds, copying it tens of
// microseconds. Many clients ask for the same list (and every watcher woken by one change asks
// for it again), and it only changes when the index the read watches moves, so the rendered
// answer is kept under its request's key together with that index and reused while the index is
// the same.
//
// Only reads whose watched index covers everything their answer shows may use it: a service
// name's index moves with any change to its instances, their checks or their nodes (D23), so
// /v1/health/service/<name>, /v1/catalog/service/<name> and /v1/health/checks/<name> qualify.
// Reads whose filters look at records their index does not cover (/v1/health/state with
// ?node-meta, /v1/catalog/services) must not use it.
//
// The key is the datacenter, the path and every query parameter except the ones that do not
// change the body (?index and ?wait, which differ between watchers, ?stale and ?consistent).
// Memory is bounded: answers under kMinBytes are not kept (they render in microseconds), and
// past kMaxEntries or kMaxBytes the least recently used answer goes.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <string>

#include "core/node/http.hpp"

namespace praetor::node {

class RenderCache {
 public:
  static constexpr std::size_t kMinBytes = 16 * 1024;
  static constexpr std::size_t kMaxBytes = 32 * 1024 * 1024;
  static constexpr std::size_t kMaxEntries = 64;

  static std::string key(const HttpRequest& request, const std::string& datacenter);

  // The answer kept under `key` if it was rendered at `index`, else nullptr.
  const HttpResponse* find(const std::string& key, std::uint64_t index);
  void store(std::string key, std::uint64_t index, const HttpResponse& response);
  void clear();

  std::size_t entries() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::uint64_t index = 0;
    HttpResponse response;
    std::list<const std::string*>::iterator recent;  // its place in recent_
  };
  void erase(std::map<std::string, Entry>::iterator it);

  std::map<std::string, Entry> entries_;
  std::list<const std::string*> recent_;  // keys, most recently used first
  std::size_t bytes_ = 0;
};

}  // namespace praetor::node
