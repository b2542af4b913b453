// fmt renderings of gossip addresses, messages and events: the trace and transcript format.
#pragma once

#include <fmt/format.h>

#include <string_view>
#include <type_traits>
#include <variant>

#include "core/gossip/message.hpp"
#include "core/gossip/serf.hpp"
#include "core/gossip/swim.hpp"

namespace praetor::gossip {

inline std::string_view member_state_name(MemberState s) {
  switch (s) {
    case MemberState::kAlive:
      return "alive";
    case MemberState::kSuspect:
      return "suspect";
    case MemberState::kDead:
      return "dead";
    case MemberState::kLeft:
      return "left";
  }
  return "?";
}

inline std::string_view serf_status_name(SerfStatus s) {
  switch (s) {
    case SerfStatus::kAlive:
      return "alive";
    case SerfStatus::kLeaving:
      return "leaving";
    case SerfStatus::kLeft:
      return "left";
    case SerfStatus::kFailed:
      return "failed";
  }
  return "?";
}

inline std::string_view member_event_name(MemberEventKind k) {
  switch (k) {
    case MemberEventKind::kJoin:
      return "join";
    case MemberEventKind::kLeave:
      return "leave";
    case MemberEventKind::kUpdate:
      return "update";
    case MemberEventKind::kConflict:
      return "conflict";
  }
  return "?";
}

inline std::string_view serf_event_name(SerfEventKind k) {
  switch (k) {
    case SerfEventKind::kMemberJoin:
      return "member-join";
    case SerfEventKind::kMemberLeaving:
      return "member-leaving";
    case SerfEventKind::kMemberLeave:
      return "member-leave";
    case SerfEventKind::kMemberFailed:
      return "member-failed";
    case SerfEventKind::kMemberUpdate:
      return "member-update";
    case SerfEventKind::kMemberReap:
      return "member-reap";
    case SerfEventKind::kNameConflict:
      return "name-conflict";
    case SerfEventKind::kUser:
      return "user";
  }
  return "?";
}

}  // namespace praetor::gossip

template <>
struct fmt::formatter<praetor::gossip::Address> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const praetor::gossip::Address& a, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{}:{}", a.host, a.port);
  }
};

template <>
struct fmt::formatter<praetor::gossip::MemberState> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(praetor::gossip::MemberState s, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(praetor::gossip::member_state_name(s), ctx);
  }
};

template <>
struct fmt::formatter<praetor::gossip::SerfStatus> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(praetor::gossip::SerfStatus s, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(praetor::gossip::serf_status_name(s), ctx);
  }
};

template <>
struct fmt::formatter<praetor::gossip::Message> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const praetor::gossip::Message& message, Context& ctx) const {
    using namespace praetor::gossip;
    return std::visit(
        [&ctx](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, Ping>) {
            return fmt::format_to(ctx.out(), "ping seq={} target={}", m.seq, m.target);
          } else if constexpr (std::is_same_v<T, IndirectPing>) {
            return fmt::format_to(ctx.out(), "ping-req seq={} target={} at {} nack={}", m.seq,
                                  m.target, m.target_address, m.want_nack);
          } else if constexpr (std::is_same_v<T, Ack>) {
            return fmt::format_to(ctx.out(), "ack seq={}", m.seq);
          } else if constexpr (std::is_same_v<T, Nack>) {
            return fmt::format_to(ctx.out(), "nack seq={}", m.seq);
          } else if constexpr (std::is_same_v<T, Suspect>) {
            return fmt::format_to(ctx.out(), "suspect {} inc={} from={}", m.node, m.incarnation,
                                  m.from);
          } else if constexpr (std::is_same_v<T, Alive>) {
            return fmt::format_to(ctx.out(), "alive {} inc={} at {} meta={}B", m.node,
                                  m.incarnation, m.address, m.meta.size());
          } else if constexpr (std::is_same_v<T, Dead>) {
            return fmt::format_to(ctx.out(), "dead {} inc={} from={}", m.node, m.incarnation,
                                  m.from);
          } else if constexpr (std::is_same_v<T, UserMessage>) {
            return fmt::format_to(ctx.out(), "user {}B", m.payload.size());
          } else {
            return fmt::format_to(ctx.out(), "push-pull{}{} nodes={} user={}B",
                                  m.join ? " join" : "", m.response ? " response" : "",
                                  m.nodes.size(), m.user_state.size());
          }
        },
        message);
  }
};

template <>
struct fmt::formatter<praetor::gossip::MemberEvent> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const praetor::gossip::MemberEvent& e, Context& ctx) const {
    return fmt::format_to(ctx.out(), "{} {} {} inc={} at {}",
                          praetor::gossip::member_event_name(e.kind), e.member.name(), e.member.state,
                          e.member.incarnation, e.member.address());
  }
};

template <>
struct fmt::formatter<praetor::gossip::SerfEvent> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const praetor::gossip::SerfEvent& e, Context& ctx) const {
    using praetor::gossip::SerfEventKind;
    if (e.kind == SerfEventKind::kUser) {
      return fmt::format_to(ctx.out(), "user {} ltime={} {}B", e.user.name, e.user.ltime,
                            e.user.payload.size());
    }
    return fmt::format_to(ctx.out(), "{} {} {} at {}", praetor::gossip::serf_event_name(e.kind),
                          e.member.name, e.member.status, e.member.address);
  }
};
