// Strong integer types: a NodeId is not a Term is not a LogIndex. Each carries its unit in its
// type so that mixing them is a compile error.
#pragma once

#include <fmt/format.h>

#include <compare>
#include <cstdint>
#include <functional>

namespace praetor {

template <typename Tag, typename Rep = std::uint64_t>
class StrongId {
 public:
  using rep = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep value) : value_(value) {}
  constexpr Rep value() const { return value_; }
  friend constexpr auto operator<=>(StrongId, StrongId) = default;
  // Counters (terms, indexes, incarnations) advance; ids never do, but the cost of the method on
  // them is nil, and one template keeps the family uniform.
  constexpr StrongId next() const { return StrongId(value_ + 1); }
  constexpr StrongId prev() const { return StrongId(value_ - 1); }

 private:
  Rep value_{};
};

using NodeId = StrongId<struct NodeIdTag>;
using Term = StrongId<struct TermTag>;
using LogIndex = StrongId<struct LogIndexTag>;
using Incarnation = StrongId<struct IncarnationTag, std::uint32_t>;
using LamportTime = StrongId<struct LamportTimeTag>;
using RequestId = StrongId<struct RequestIdTag>;
using Ticket = StrongId<struct TicketTag>;
using CheckRunId = StrongId<struct CheckRunIdTag>;

}  // namespace praetor

template <typename Tag, typename Rep>
struct std::hash<praetor::StrongId<Tag, Rep>> {
  std::size_t operator()(praetor::StrongId<Tag, Rep> id) const noexcept {
    return std::hash<Rep>{}(id.value());
  }
};

template <typename Tag, typename Rep>
struct fmt::formatter<praetor::StrongId<Tag, Rep>> : fmt::formatter<Rep> {
  template <typename Context>
  auto format(praetor::StrongId<Tag, Rep> id, Context& ctx) const {
    return fmt::formatter<Rep>::format(id.value(), ctx);
  }
};
