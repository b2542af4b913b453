// JSON shapes shared by several handler files.
#pragma once

#include <nlohmann/json.hpp>

#include "core/catalog/kv.hpp"

namespace praetor::node {

// A KV entry as /v1/kv and /v1/txn show it: Value base64 or null, Session only when held.
nlohmann::json kv_entry_json(const catalog::KvEntry& e);

}  // namespace praetor::node
