// Fuzzes the HTTP request parser the way a connection drives it: the input arrives in pieces
// (the first byte of the input sets the piece size), pipelined requests are taken one after another, and
// every outcome must be a request, a need for more bytes, or an error with a 4xx status (or 501
// for a transfer coding, 505 for a version) and a message — never a crash, a hang or a request
// over the limits.
#include <cstdint>

#include "io/http_request_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace praetor;
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  ByteView input(data + 1, size - 1);
  io::HttpLimits limits;
  limits.max_header_bytes = 4096;
  limits.max_body_bytes = 8192;
  io::HttpRequestParser parser(limits);
  std::size_t offset = 0;
  int requests = 0;
  while (offset < input.size()) {
    const std::size_t n = std::min(chunk, input.size() - offset);
    auto outcome = parser.feed(input.subspan(offset, n));
    PRAETOR_ASSERT(outcome.consumed <= n);
    if (outcome.kind == io::HttpRequestParser::Kind::kError) {
      PRAETOR_ASSERT((outcome.status >= 400 && outcome.status < 500) || outcome.status == 501 ||
                     outcome.status == 505);
      PRAETOR_ASSERT(!outcome.message.empty());
      return 0;
    }
    if (outcome.kind == io::HttpRequestParser::Kind::kRequest) {
      io::ParsedRequest r = parser.take_request();
      PRAETOR_ASSERT(r.request.body.size() <= limits.max_body_bytes);
      PRAETOR_ASSERT(!r.request.path.empty() && r.request.path[0] == '/');
      ++requests;
    } else {
      // Needing more means everything given was taken.
      PRAETOR_ASSERT(outcome.consumed == n);
    }
    offset += outcome.consumed;
  }
  PRAETOR_ASSERT(requests <= static_cast<int>(input.size()));
  return 0;
}
