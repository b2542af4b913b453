#include "core/base/bytes.hpp"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace praetor {
namespace {

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
