// A seedable deterministic random number generator (xoshiro256** seeded through splitmix64).
// Every random choice in praetor goes through one of these so that a simulator seed replays a
// run exactly; <random>'s distributions are avoided because their output differs between
// standard libraries.
#pragma once

#include <cstdint>

#include "core/base/assert.hpp"
#include "core/base/instant.hpp"

namespace praetor {

class Rng {
 public:
  explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

  void reseed(std::uint64_t seed);
  std::uint64_t next_u64();

  // Uniform in [0, bound), without modulo bias. bound must be > 0.
  std::uint64_t uniform(std::uint64_t bound);
  // Uniform in [low, high] inclusive.
  std::int64_t between(std::int64_t low, std::int64_t high);
  Duration between(Duration low, Duration high) {
    return Duration::nanoseconds(between(low.count_ns(), high.count_ns()));
  }
  // Uniform double in [0, 1) built from 53 random bits: identical on every platform.
  double unit();
  // True with probability numerator/denominator.
  bool chance(std::uint64_t numerator, std::uint64_t denominator);
  // True with probability p (0..1).
  bool chance(double p) { return unit() < p; }
  // An independent stream derived from this one: for giving each simulated node its own Rng.
  Rng fork();

  template <typename Container>
  void shuffle(Container& c) {
    for (std::size_t i = c.size(); i > 1; --i) {
      std::size_t j = static_cast<std::size_t>(uniform(i));
      using std::swap;
      swap(c[i - 1], c[j]);
    }
  }

 private:
  std::uint64_t state_[4] = {};
};

}  // namespace praetor
