// RFC 5769: the sample messages, as published, parse and verify byte for byte.
#include <gtest/gtest.h>

#include "../../support/hex.hpp"
#include "hush/stun/builder.hpp"
#include "hush/stun/integrity.hpp"
#include "hush/stun/message.hpp"

using namespace hush;
using hush::test::hex;

namespace {

// §2.1 Sample Request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME padded with spaces).
const auto kRequest = hex(
    "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74"
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70c"
    "bfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf");
// §2.2 Sample IPv4 Response.
const auto kIpv4Response = hex(
    "0101003c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000080001a147"
    "e112a643000800142b91f599fd9e90c38c7489f92af9ba53f06be7d780280004c07d4c96");
// §2.3 Sample IPv6 Response.
const auto kIpv6Response = hex(
    "010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f7220002000140002a147"
    "0113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e4be67bf11784c97c8292c275bfe3ed4180280004"
    "c8fb0b4c");
// §2.4 Sample Request with Long-Term Authentication (USERNAME is "マトリックス").
const auto kLongTerm = hex(
    "000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae38383e382afe382b90000"
    "0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e"
    "6f72670000080014f67024656dd64a3e02b8e0712e85c9a28ca89666");

const std::string_view kPassword = "VOkJxbRl1RmTxUk/WvJxBt";

}  // namespace

TEST(Rfc5769, SampleRequestParsesAndVerifies) {
  auto m = stun::MessageView::parse(kRequest);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->method(), stun::Method::binding);
  EXPECT_EQ(m->message_class(), stun::Class::request);
  EXPECT_EQ(m->find_text(stun::attr::software), "STUN test client");
  EXPECT_EQ(m->find_text(stun::attr::username), "evtj:h6vY");
  EXPECT_EQ(m->find_u32(stun::attr::priority), 0x6e0001ffu);
  EXPECT_TRUE(m->has_fingerprint());
  EXPECT_TRUE(m->verify_integrity(as_bytes(kPassword)));
  EXPECT_FALSE(m->verify_integrity(as_bytes("VOkJxbRl1RmTxUk/WvJxBu")));
}

TEST(Rfc5769, SampleIpv4ResponseDecodesMappedAddress) {
  auto m = stun::MessageView::parse(kIpv4Response);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->message_class(), stun::Class::success);
  EXPECT_TRUE(m->verify_integrity(as_bytes(kPassword)));
  auto mapped = stun::decode_xor_address(*m->find(stun::attr::xor_mapped_address), m->transaction_id_ptr());
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->to_string(), "192.0.2.1:32853");
}

TEST(Rfc5769, SampleIpv6ResponseDecodesMappedAddress) {
  auto m = stun::MessageView::parse(kIpv6Response);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->verify_integrity(as_bytes(kPassword)));
  auto mapped = stun::decode_xor_address(*m->find(stun::attr::xor_mapped_address), m->transaction_id_ptr());
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->to_string(), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
}

TEST(Rfc5769, LongTermRequestVerifiesWithMd5Key) {
  auto m = stun::MessageView::parse(kLongTerm);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->find_text(stun::attr::realm), "example.org");
  EXPECT_EQ(m->find_text(stun::attr::nonce), "f//499k954d6OL34oL9FSTvy64sA");
  // The password after SASLprep is "TheMatrIX" (RFC 5769 §2.4).
  auto key = stun::long_term_key(*m->find_text(stun::attr::username), "example.org", "TheMatrIX");
  EXPECT_TRUE(m->verify_integrity(key));
}

TEST(Rfc5769, BuilderEncodesTheSampleXorAddressesExactly) {
  auto v4 = stun::MessageView::parse(kIpv4Response);
  auto v6 = stun::MessageView::parse(kIpv6Response);
  std::byte out[20];
  auto n = stun::encode_xor_address(*Endpoint::parse("192.0.2.1:32853"), v4->transaction_id_ptr(), out);
  EXPECT_EQ(std::vector<std::byte>(out, out + n), std::vector<std::byte>(v4->find(stun::attr::xor_mapped_address)->begin(),
                                                                          v4->find(stun::attr::xor_mapped_address)->end()));
  n = stun::encode_xor_address(*Endpoint::parse("[2001:db8:1234:5678:11:2233:4455:6677]:32853"),
                               v6->transaction_id_ptr(), out);
  auto attr = *v6->find(stun::attr::xor_mapped_address);
  EXPECT_EQ(std::vector<std::byte>(out, out + n), std::vector<std::byte>(attr.begin(), attr.end()));
}

TEST(Rfc5769, RebuildingTheIpv4ResponseReproducesItsIntegrityAndFingerprint) {
  // Same attributes; SOFTWARE padded with a space as in the RFC, so every byte must match.
  auto sample = stun::MessageView::parse(kIpv4Response);
  std::vector<std::byte> buf(256);
  stun::MessageBuilder b(buf, stun::Method::binding, stun::Class::success, sample->transaction_id_ptr());
  b.add_text(stun::attr::software, "test vector ");  // 12 bytes; length fixed below
  b.add_xor_address(stun::attr::xor_mapped_address, *Endpoint::parse("192.0.2.1:32853"));
  // Restore the RFC's SOFTWARE length (11) with its space padding.
  buf[23] = std::byte{11};
  b.add_integrity(as_bytes(kPassword)).add_fingerprint();
  auto msg = b.finish();
  ASSERT_TRUE(msg);
  EXPECT_EQ(std::vector<std::byte>(msg->begin(), msg->end()), kIpv4Response);
}
