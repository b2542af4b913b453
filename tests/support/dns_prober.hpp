// An application resolving one name through an agent's DNS port in the simulator: an A query
// every `every` over UDP. It keeps the addresses of the answer to the most recently sent query
// that was answered (nullopt until one came, or when that answer was neither NOERROR nor
// NXDOMAIN, e.g. SERVFAIL), and when it came. An answer slower than `every` still counts (a
// SERVFAIL after a 3-s timeout), unless a query sent after it was answered first.
#pragma once

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "core/dns/message.hpp"
#include "core/node/process.hpp"

namespace praetor::testing {

class DnsProber final : public node::Process {
 public:
  DnsProber(node::Endpoint agent, std::string name, Duration every = Duration::milliseconds(100))
      : agent_(std::move(agent)), name_(std::move(name)), every_(every) {}
  void start(node::Env& env) override {
    env_ = &env;
    env.timer.wake_at(env.clock.now());
  }
  void on_wake(Instant now) override {
    dns::Message q;
    q.header.id = ++id_;
    q.header.rd = true;
    q.questions.push_back(
        dns::Question{dns::name_from_text(name_), dns::type::kA, dns::klass::kIn});
    sent_[id_] = ++sequence_;
    if (sent_.size() > 512) sent_.erase(static_cast<std::uint16_t>(id_ - 512));
    env_->network.send(agent_, node::Channel::kDns, dns::encode(q));
    env_->timer.wake_at(now + every_);
  }
  void on_frame(const node::Endpoint&, node::Channel, Bytes payload) override {
    auto m = dns::decode(payload);
    if (!m) return;
    auto sent = sent_.find(m->header.id);
    // Unknown, or older than the answer kept already.
    if (sent == sent_.end() || sent->second <= answered_sequence_) return;
    answered_sequence_ = sent->second;
    answered_at = env_->clock.now();
    rcode = m->header.rcode;
    if (m->header.rcode != dns::rcode::kNoError && m->header.rcode != dns::rcode::kNxDomain) {
      latest = std::nullopt;
      return;
    }
    std::set<std::string> addresses;
    for (const auto& rr : m->answers) {
      if (const auto* a = std::get_if<dns::RdataA>(&rr.rdata)) {
        addresses.insert(fmt::format("{}.{}.{}.{}", a->address[0], a->address[1],
                                     a->address[2], a->address[3]));
      }
    }
    latest = std::move(addresses);
  }
  void on_written(Ticket, Result<void>) override {}
  void on_check_result(CheckRunId, node::ExecResult) override {}
  void on_client_request(RequestId, node::HttpRequest) override {}
  void stop(node::StopReason) override { env_->control.shutdown(0); }

  std::optional<std::set<std::string>> latest;
  std::optional<int> rcode;  // of the latest answer
  Instant answered_at = Instant::never();

 private:
  node::Endpoint agent_;
  std::string name_;
  Duration every_;
  node::Env* env_ = nullptr;
  std::uint16_t id_ = 0;
  std::uint64_t sequence_ = 0;
  std::uint64_t answered_sequence_ = 0;
  std::map<std::uint16_t, std::uint64_t> sent_;  // query id -> when sent, in sequence
};

}  // namespace praetor::testing
