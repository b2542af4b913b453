// fmt renderings of Raft's values. These are the trace and transcript format: one line per
// message ("1->2 Append term=2 prev=4@1 commit=3 entries=[5@2 noop]"), entries as index@term,
// and a Ready as an indented block. Changing them changes every transcript, on purpose.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "core/raft/message.hpp"
#include "core/raft/ready.hpp"

namespace praetor::raft {

std::string to_string(const Entry& entry);
std::string to_string(const Membership& membership);
std::string to_string(const SnapshotMeta& meta);
std::string to_string(const Message& message);
std::string to_string(const HardState& state);
std::string to_string(const SoftState& state);
std::string to_string(const ReadState& read);
// Multi-line, each line prefixed by `indent`; an empty Ready renders as "".
std::string to_string(const Ready& ready, std::string_view indent = "  ");

}  // namespace praetor::raft

#define PRAETOR_RAFT_FORMATTER(Type)                                                     \
  template <>                                                                            \
  struct fmt::formatter<praetor::raft::Type> : fmt::formatter<std::string_view> {        \
    template <typename Context>                                                          \
    auto format(const praetor::raft::Type& v, Context& ctx) const {                      \
      return fmt::formatter<std::string_view>::format(praetor::raft::to_string(v), ctx); \
    }                                                                                    \
  };

PRAETOR_RAFT_FORMATTER(Entry)
PRAETOR_RAFT_FORMATTER(Membership)
PRAETOR_RAFT_FORMATTER(SnapshotMeta)
PRAETOR_RAFT_FORMATTER(Message)
PRAETOR_RAFT_FORMATTER(HardState)
PRAETOR_RAFT_FORMATTER(SoftState)
PRAETOR_RAFT_FORMATTER(ReadState)
PRAETOR_RAFT_FORMATTER(Ready)

#undef PRAETOR_RAFT_FORMATTER
