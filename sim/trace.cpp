#include "sim/trace.hpp"

#include <fmt/format.h>

#include <utility>

#include "core/base/bytes.hpp"

namespace praetor::sim {

void Trace::add(Instant at, std::string_view actor, std::string_view text) {
  std::string line = fmt::format("{} {} {}", at, actor, text);
  Bytes stamp;
  put_u64_le(stamp, static_cast<std::uint64_t>(at.ns()));
  hash_ = fnv1a64(stamp, hash_);
  hash_ = fnv1a64(line, hash_);
  hash_ = fnv1a64(std::string_view("\n"), hash_);
  ++count_;
  if (echo_ != nullptr) fmt::print(echo_, "{}\n", line);
  if (keep_) kept_.push_back(std::move(line));
}

std::vector<std::string> Trace::take_kept() {
  std::vector<std::string> out;
  out.swap(kept_);
  return out;
}

std::string format_hash(std::uint64_t hash) { return fmt::format("{:016x}", hash); }

}  // namespace praetor::sim
