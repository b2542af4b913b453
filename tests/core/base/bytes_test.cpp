#include "core/base/bytes.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace praetor {
namespace {

TEST(Crc32c, FastPathAgreesWithTheTableAtEveryLengthAndAlignment) {
  Bytes data(300);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + 7);
  for (std::size_t start = 0; start < 9; ++start) {
    for (std::size_t len = 0; start + len <= data.size(); len += 1 + len / 8) {
      ByteView v(data.data() + start, len);
      ASSERT_EQ(crc32c(v), crc32c_portable(v)) << start << "+" << len;
      ASSERT_EQ(crc32c(v, 0x12345678u), crc32c_portable(v, 0x12345678u)) << start << "+" << len;
    }
  }
  // Chaining: the checksum of a+b is the checksum of b seeded with that of a.
  ByteView all(data);
  EXPECT_EQ(crc32c(all.subspan(100), crc32c(all.first(100))), crc32c(all));
  EXPECT_EQ(crc32c_portable(to_bytes("123456789")), 0xE3069283u);
}

TEST(Crc32c, KnownVector) {
  // RFC 3720 B.4: CRC-32C of "123456789" is 0xE3069283.
  EXPECT_EQ(crc32c(to_bytes("123456789")), 0xE3069283u);
}

TEST(Base64, KnownVectors) {
  EXPECT_EQ(base64_encode(to_bytes("")), "");
  EXPECT_EQ(base64_encode(to_bytes("f")), "Zg==");
  EXPECT_EQ(base64_encode(to_bytes("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(to_bytes("foo")), "Zm9v");
  EXPECT_EQ(base64_encode(to_bytes("foobar")), "Zm9vYmFy");
  Bytes out;
  ASSERT_TRUE(base64_decode("Zm9vYmE=", out));
  EXPECT_EQ(to_string(out), "fooba");
  EXPECT_FALSE(base64_decode("Zm9v!", out));
  EXPECT_FALSE(base64_decode("Z", out));
}

RC_GTEST_PROP(Base64, RoundTrips, (const std::vector<std::uint8_t>& data)) {
  Bytes out;
  RC_ASSERT(base64_decode(base64_encode(data), out));
  RC_ASSERT(out == data);
}

TEST(LittleEndian, RoundTrips) {
  Bytes b;
  put_u32_le(b, 0xdeadbeef);
  put_u64_le(b, 0x0102030405060708ULL);
  ASSERT_EQ(b.size(), 12u);
  EXPECT_EQ(b[0], 0xef);
  EXPECT_EQ(get_u32_le(b.data()), 0xdeadbeefu);
  EXPECT_EQ(get_u64_le(b.data() + 4), 0x0102030405060708ULL);
}

}  // namespace
}  // namespace praetor
