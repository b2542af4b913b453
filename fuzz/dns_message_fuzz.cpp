// Fuzzes the DNS decoder: any datagram on the DNS port must decode or be refused, never crash or
// allocate beyond its size; whatever decodes must re-encode (compressed, uncompressed and fitted
// into 512 octets) to something that decodes to the same message.
#include <cstdint>

#include "core/dns/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace praetor;
  auto m = dns::decode(ByteView(data, size));
  (void)dns::peek_header(ByteView(data, size));
  if (!m) {
    PRAETOR_ASSERT(!m.error().message.empty());
    return 0;
  }
  for (bool compress : {true, false}) {
    const Bytes again = dns::encode(*m, dns::EncodeOptions{compress});
    // Our compression can be less thorough than the sender's (pointers into opaque rdata, beyond
    // 0x3FFF), so a re-encoding of a near-64K message may be too long to decode: skip those.
    if (again.size() > dns::kMaxMessage) continue;
    auto back = dns::decode(again);
    PRAETOR_ASSERT_MSG(back.has_value(), "re-encoded message does not decode: {}",
                       back.error().message);
    PRAETOR_ASSERT(*back == *m);
  }
  const dns::Fitted f = dns::encode_fitting(*m, 512, true);
  auto fitted = dns::decode(f.packet);
  PRAETOR_ASSERT(fitted.has_value());
  PRAETOR_ASSERT(fitted->answers.size() == f.answers_kept);
  return 0;
}
