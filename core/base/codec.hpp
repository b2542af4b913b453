// Bounded decoding helpers for cereal. cereal resizes containers to whatever a length prefix
// claims and throws on short input; these helpers check every length against a named limit and
// the bytes that remain, and turn exceptions into Result at the decode boundary. Only codec.cpp
// files include this (they are each core's only cereal users).
#pragma once

#include <cereal/archives/portable_binary.hpp>
#include <cereal/cereal.hpp>

#include <istream>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include "core/base/bytes.hpp"
#include "core/base/limits.hpp"
#include "core/base/result.hpp"

namespace praetor::codec {

// A read-only streambuf over a byte span, so decoding does not copy the input.
class SpanBuf : public std::streambuf {
 public:
  explicit SpanBuf(ByteView data) {
    char* begin = const_cast<char*>(reinterpret_cast<const char*>(data.data()));
    setg(begin, begin, begin + data.size());
  }
  std::size_t remaining() const { return static_cast<std::size_t>(egptr() - gptr()); }
};

// Thrown inside load functions when a bound is exceeded; caught by decode().
struct BoundError {
  std::string message;
};

// Reads a container size tag and checks it against max and against the bytes left in the input
// (each element takes at least one byte).
template <typename Archive>
std::size_t load_size(Archive& ar, std::size_t max, const SpanBuf* buf = nullptr) {
  cereal::size_type n = 0;
  ar(cereal::make_size_tag(n));
  if (n > max) throw BoundError{"container of " + std::to_string(n) + " exceeds limit"};
  if (buf != nullptr && n > buf->remaining()) throw BoundError{"container longer than input"};
  return static_cast<std::size_t>(n);
}

// Strings and byte vectors are the containers that matter most: bound them by the bytes left.
struct BoundedString {
  std::string& s;
  std::size_t max;
  template <typename Archive>
  void save(Archive& ar) const {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(s.size())));
    ar(cereal::binary_data(s.data(), s.size()));
  }
  template <typename Archive>
  void load(Archive& ar) {
    cereal::size_type n = 0;
    ar(cereal::make_size_tag(n));
    if (n > max) throw BoundError{"string of " + std::to_string(n) + " bytes exceeds limit"};
    s.resize(static_cast<std::size_t>(n));
    ar(cereal::binary_data(s.data(), s.size()));
  }
};

struct BoundedBytes {
  Bytes& b;
  std::size_t max;
  template <typename Archive>
  void save(Archive& ar) const {
    ar(cereal::make_size_tag(static_cast<cereal::size_type>(b.size())));
    ar(cereal::binary_data(b.data(), b.size()));
  }
  template <typename Archive>
  void load(Archive& ar) {
    cereal::size_type n = 0;
    ar(cereal::make_size_tag(n));
    if (n > max) throw BoundError{"byte string of " + std::to_string(n) + " exceeds limit"};
    b.resize(static_cast<std::size_t>(n));
    ar(cereal::binary_data(b.data(), b.size()));
  }
};

// A bool on the wire is one byte that must be 0 or 1: loading any other byte straight into a
// bool is undefined behaviour (UBSan flags it; the rpc_frame fuzzer found it).
struct BoundedBool {
  bool& b;
  template <typename Archive>
  void save(Archive& ar) const {
    ar(static_cast<std::uint8_t>(b ? 1 : 0));
  }
  template <typename Archive>
  void load(Archive& ar) {
    std::uint8_t v = 0;
    ar(v);
    if (v > 1) throw BoundError{"bad boolean " + std::to_string(v)};
    b = v == 1;
  }
};

template <typename T>
Bytes encode(const T& value) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(value);
  }
  const std::string s = os.str();
  return Bytes(s.begin(), s.end());
}

// Decodes one T and requires the input to be consumed exactly.
template <typename T>
Result<T> decode(ByteView data, std::string_view what);

// Serializes a T through a codec's field function object (a struct whose templated
// operator()(Archive&, T&) calls that codec's overloads), so the codecs of tagged variants
// (catalog commands, RPC frames) share one wrapper and one decode-into-the-variant step.
template <typename T, typename Fields>
struct WithFields {
  T value;
  template <typename Archive>
  void serialize(Archive& ar) {
    Fields{}(ar, value);
  }
};

template <typename Fields, typename T>
Bytes encode_fields(const T& value) {
  return encode(WithFields<T, Fields>{value});
}

// Decodes a T (bounded, exact) and returns it as the Variant alternative it is.
template <typename Variant, typename T, typename Fields>
Result<Variant> decode_fields_as(ByteView data, std::string_view what) {
  auto decoded = decode<WithFields<T, Fields>>(data, what);
  if (!decoded) return decoded.error();
  return Variant(std::move(decoded->value));
}
template <typename T>
Result<T> decode(ByteView data, std::string_view what) {
  if (data.size() > limits::kRpcMaxFrameBytes) {
    return make_error(ErrorCode::kTooLarge, std::string(what) + ": input too large");
  }
  // cereal's portable archive starts with an endianness byte and would byte-swap a big-endian
  // stream; our encoder always writes little endian (1), so that is the only encoding accepted
  // (one encoding per value: a decoded value re-encodes to the same bytes).
  if (data.empty() || data[0] != 1) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + ": not little-endian");
  }
  SpanBuf buf(data);
  std::istream is(&buf);
  T value{};
  try {
    cereal::PortableBinaryInputArchive ar(is);
    ar(value);
  } catch (const BoundError& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + ": " + e.message);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + ": " + e.what());
  }
  if (buf.remaining() != 0) {
    return make_error(ErrorCode::kInvalidArgument, std::string(what) + ": trailing bytes");
  }
  return value;
}

}  // namespace praetor::codec
