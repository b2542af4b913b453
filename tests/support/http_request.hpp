// A client request for tests that drive agents directly or through the simulator.
#pragma once

#include <string>
#include <utility>

#include "core/node/http.hpp"

namespace praetor::testing {

inline node::HttpRequest http(std::string method, std::string path, std::string body = "") {
  node::HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.body = std::move(body);
  return r;
}

}  // namespace praetor::testing
