// The simulator's trace: one text line per delivered input, emitted effect, network fate, fault
// and log line. Every line also feeds a running 64-bit hash, so two runs of one seed can be
// compared by a single number (same seed => same hash, or the simulator is not deterministic).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/instant.hpp"

namespace praetor::sim {

class Trace {
 public:
  // Print each line to `out` as it is added; nullptr (the default) keeps the trace quiet.
  void set_echo(std::FILE* out) { echo_ = out; }
  // Keep lines in memory (for transcript tests and failure reports).
  void set_keep(bool keep) { keep_ = keep; }

  // Adds "t=1.234 <actor> <text>". The hash covers the exact nanosecond time too, so two runs
  // that differ only below the millisecond rendering still hash differently.
  void add(Instant at, std::string_view actor, std::string_view text);

  std::uint64_t hash() const { return hash_; }
  std::uint64_t line_count() const { return count_; }
  const std::vector<std::string>& kept() const { return kept_; }
  std::vector<std::string> take_kept();

 private:
  std::FILE* echo_ = nullptr;
  bool keep_ = false;
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
  std::uint64_t count_ = 0;
  std::vector<std::string> kept_;
};

// "00ab..." : a hash as exactly 16 lower-case hex digits.
std::string format_hash(std::uint64_t hash);

}  // namespace praetor::sim
