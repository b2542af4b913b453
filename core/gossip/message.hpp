// Gossip wire messages: the vocabulary of SWIM (ping, indirect ping, ack, suspect, alive, dead),
// Lifeguard's nack, piggybacked user broadcasts and the push/pull full-state exchange.
//
// A packet on the wire carries one or more of these (a compound packet); see codec.hpp for the
// byte layout. Everything decoded from the network is untrusted: the codec bounds every length,
// and Swim re-checks semantics (names, states) before acting.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/ids.hpp"

namespace praetor::gossip {

// Where a member can be reached. The gossip core never resolves names: host is an IP literal.
struct Address {
  std::string host;
  std::uint16_t port = 0;
  friend auto operator<=>(const Address&, const Address&) = default;
};

// Serf's node tags (role, dc, port, ...), carried encoded as a member's meta.
using Tags = std::map<std::string, std::string>;

// Member liveness as SWIM sees it. kLeft is a dead message a node sent about itself (graceful
// leave); the higher layers treat it differently from a failure.
enum class MemberState : std::uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };

// Direct probe (SWIM §3.1). `target` names the node the sender means, so a node that inherited
// an address from a departed member does not answer for it.
struct Ping {
  std::uint32_t seq = 0;
  std::string target;
  friend bool operator==(const Ping&, const Ping&) = default;
};

// Indirect probe request (SWIM §3.1 ping-req): "please ping target for me".
struct IndirectPing {
  std::uint32_t seq = 0;
  std::string target;
  Address target_address;
  bool want_nack = false;  // Lifeguard: relay answers with a nack when the target stays silent
  friend bool operator==(const IndirectPing&, const IndirectPing&) = default;
};

struct Ack {
  std::uint32_t seq = 0;
  friend bool operator==(const Ack&, const Ack&) = default;
};

// Lifeguard §IV-A: a relay tells the prober it tried and got nothing, which tells the prober its
// own network path to the relay works (so its own health is fine).
struct Nack {
  std::uint32_t seq = 0;
  friend bool operator==(const Nack&, const Nack&) = default;
};

struct Suspect {
  Incarnation incarnation;
  std::string node;
  std::string from;
  friend bool operator==(const Suspect&, const Suspect&) = default;
};

struct Alive {
  Incarnation incarnation;
  std::string node;
  Address address;
  Bytes meta;  // opaque to SWIM; Serf stores node tags here
  friend bool operator==(const Alive&, const Alive&) = default;
};

// A dead message whose `from` equals `node` is a graceful leave.
struct Dead {
  Incarnation incarnation;
  std::string node;
  std::string from;
  friend bool operator==(const Dead&, const Dead&) = default;
};

// Piggybacked payload of the layer above (Serf intents and user events).
struct UserMessage {
  Bytes payload;
  friend bool operator==(const UserMessage&, const UserMessage&) = default;
};

struct PushNodeState {
  std::string name;
  Address address;
  Bytes meta;
  Incarnation incarnation;
  MemberState state = MemberState::kAlive;
  friend bool operator==(const PushNodeState&, const PushNodeState&) = default;
};

// Full state exchange (anti-entropy). Carried as a stream packet (TCP in memberlist): the
// requester sends its state, the responder merges it and answers with its own.
struct PushPull {
  bool join = false;
  bool response = false;
  std::vector<PushNodeState> nodes;
  Bytes user_state;  // the upper layer's own state (Serf clocks and intents)
  friend bool operator==(const PushPull&, const PushPull&) = default;
};

using Message =
    std::variant<Ping, IndirectPing, Ack, Nack, Suspect, Alive, Dead, UserMessage, PushPull>;

// Wire tags; values are part of the format and never renumbered.
enum class MessageType : std::uint8_t {
  kPing = 1,
  kIndirectPing = 2,
  kAck = 3,
  kNack = 4,
  kSuspect = 5,
  kAlive = 6,
  kDead = 7,
  kUser = 8,
  kPushPull = 9,
};

// How the host must carry a packet: datagram (lossy, <= kGossipMaxPacketBytes) or stream (a
// reliable request/response connection, bounded by kMaxStreamBytes).
enum class Transport : std::uint8_t { kPacket = 0, kStream = 1 };

}  // namespace praetor::gossip
