// Properties of HttpRequestParser: any bytes, in any chunking, end in requests, a need for more,
// or an error (never a crash); and how a valid pipelined stream is split does not change the
// requests it yields.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "io/http_request_parser.hpp"

namespace praetor::io {
namespace {

using Kind = HttpRequestParser::Kind;

// Feeds `input` in pieces of the given sizes; returns the requests (method path body) and
// whether the parser ended in an error.
std::pair<std::vector<std::string>, bool> parse_all(const std::string& input,
                                                    const std::vector<std::size_t>& pieces) {
  HttpLimits limits;
  limits.max_header_bytes = 2048;
  limits.max_body_bytes = 2048;
  HttpRequestParser parser(limits);
  std::vector<std::string> requests;
  std::string pending;
  std::size_t offset = 0;
  std::size_t piece = 0;
  while (offset < input.size() || !pending.empty()) {
    if (offset < input.size()) {
      std::size_t n =
          pieces.empty() ? input.size() : std::max<std::size_t>(1, pieces[piece++ % pieces.size()]);
      n = std::min(n, input.size() - offset);
      pending += input.substr(offset, n);
      offset += n;
    }
    while (!pending.empty()) {
      auto out = parser.feed(
          ByteView(reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size()));
      RC_ASSERT(out.consumed <= pending.size());
      if (out.kind == Kind::kError) {
        RC_ASSERT(out.status == 400 || out.status == 413 || out.status == 431 ||
                  out.status == 501 || out.status == 505);
        return {requests, true};
      }
      pending.erase(0, out.consumed);
      if (out.kind == Kind::kNeedMore) {
        RC_ASSERT(pending.empty());
        break;
      }
      RC_ASSERT(out.consumed > 0);
      auto r = parser.take_request();
      requests.push_back(r.request.method + " " + r.request.path + " " + r.request.body);
    }
    if (offset >= input.size()) break;
  }
  return {requests, false};
}

RC_GTEST_PROP(HttpRequestParserProp, ArbitraryBytesNeverCrash,
              (const std::string& noise, const std::vector<std::size_t>& pieces)) {
  // Half the time start like a request so the parser gets past the request line.
  std::string input = *rc::gen::element(std::string(), std::string("GET /"),
                                        std::string("PUT /v1/kv/x HTTP/1.1\r\n")) +
                      noise;
  parse_all(input, pieces);
}

RC_GTEST_PROP(HttpRequestParserProp, ChunkingDoesNotChangeTheRequests,
              (const std::vector<std::size_t>& pieces)) {
  const auto count = *rc::gen::inRange(1, 5);
  std::string stream;
  std::vector<std::string> expected;
  for (int i = 0; i < count; ++i) {
    std::string key = *rc::gen::container<std::string>(rc::gen::elementOf(std::string("abcxyz09")));
    std::string body = *rc::gen::container<std::string>(rc::gen::arbitrary<char>());
    if (body.size() > 500) body.resize(500);
    const int kind = *rc::gen::inRange(0, 3);
    if (kind == 0) {
      stream += "PUT /v1/kv/" + key +
                " HTTP/1.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      expected.push_back("PUT /v1/kv/" + key + " " + body);
    } else if (kind == 1) {
      // The same body chunked at random places, sometimes with an extension and a trailer.
      stream += "PUT /v1/kv/" + key + " HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
      std::size_t at = 0;
      while (at < body.size()) {
        const std::size_t n = std::min<std::size_t>(body.size() - at, *rc::gen::inRange(1, 200));
        stream += fmt::format("{:x}{}\r\n", n, *rc::gen::arbitrary<bool>() ? ";e=1" : "");
        stream += body.substr(at, n) + "\r\n";
        at += n;
      }
      stream += *rc::gen::arbitrary<bool>() ? "0\r\nX-T: v\r\n\r\n" : "0\r\n\r\n";
      expected.push_back("PUT /v1/kv/" + key + " " + body);
    } else {
      stream += "GET /v1/kv/" + key + "?index=" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
      expected.push_back("GET /v1/kv/" + key + " ");
    }
  }
  auto [requests, failed] = parse_all(stream, pieces);
  RC_ASSERT(!failed);
  RC_ASSERT(requests == expected);
}

}  // namespace
}  // namespace praetor::io
