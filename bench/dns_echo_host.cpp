// The io/ ceiling for DNS: the libuv host (UvHost, UvNetwork, the task queue) running a process
// that answers every A query with one canned record, so bench/dns_vs_nsd.sh can show what the
// host costs apart from the DNS core. Not an agent and not a DNS server: it answers any
// well-formed single-question query with 10.0.0.1 and drops everything else.
//
//   dns_echo_host ADDRESS PORT     (UDP and TCP on ADDRESS:PORT until SIGINT/SIGTERM)
#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "core/node/process.hpp"
#include "io/uv_host.hpp"

namespace {

using praetor::Bytes;
using praetor::node::Channel;
using praetor::node::Endpoint;

class EchoProcess final : public praetor::node::Process {
 public:
  void start(praetor::node::Env& env) override { env_ = &env; }
  void on_frame(const Endpoint& from, Channel channel, Bytes payload) override {
    if (channel != Channel::kDns && channel != Channel::kDnsStream) return;
    if (!answer(payload)) return;
    env_->network.send(from, channel, std::move(payload));
  }
  void on_written(praetor::Ticket, praetor::Result<void>) override {}
  void on_wake(praetor::Instant) override {}
  void on_check_result(praetor::CheckRunId, praetor::node::ExecResult) override {}
  void on_client_request(praetor::RequestId, praetor::node::HttpRequest) override {}
  void stop(praetor::node::StopReason) override { env_->control.shutdown(0); }

 private:
  // Turns the query into its answer in place: header flags, one answer pointing at the question.
  static bool answer(Bytes& m) {
    if (m.size() < 12 || (m[2] & 0x80) != 0 || m[4] != 0 || m[5] != 1) return false;
    std::size_t at = 12;
    while (at < m.size() && m[at] != 0) {
      if (m[at] > 63) return false;
      at += 1 + m[at];
    }
    at += 5;  // the root label, QTYPE, QCLASS
    if (at > m.size()) return false;
    m.resize(at);  // drops any OPT record: the answer has none
    m[2] = static_cast<std::uint8_t>(0x84 | (m[2] & 0x01));  // QR, AA, RD copied
    m[3] = 0;
    m[6] = 0, m[7] = 1;               // ANCOUNT 1
    m[8] = m[9] = m[10] = m[11] = 0;  // NSCOUNT, ARCOUNT 0
    const std::uint8_t record[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 10, 0, 0, 1};
    m.insert(m.end(), std::begin(record), std::end(record));
    return true;
  }

  praetor::node::Env* env_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fmt::print(stderr, "usage: dns_echo_host ADDRESS PORT\n");
    return 2;
  }
  const Endpoint at{argv[1], static_cast<std::uint16_t>(std::atoi(argv[2]))};
  praetor::NullLogger logger;
  praetor::io::HostOptions options;
  options.listeners = {{Channel::kDns, at}, {Channel::kDnsStream, at}};
  // PRAETOR_DNS_BATCH=0: one uv_udp_try_send per answer instead of sendmmsg batches (to measure
  // the difference).
  if (const char* batch = std::getenv("PRAETOR_DNS_BATCH"); batch != nullptr) {
    options.network.dns_udp_batch_sends = std::string(batch) != "0";
  }
  praetor::io::UvHost host(logger, std::move(options));
  auto bound = host.open();
  if (!bound) {
    fmt::print(stderr, "dns_echo_host: {}\n", bound.error().message);
    return 1;
  }
  EchoProcess process;
  host.start(process);
  return host.run();
}
