// RFC 8489 §5, §14: every way the parser can refuse a message, and builder round trips.
#include <gtest/gtest.h>

#include "../../support/hex.hpp"
#include "../../support/stun_messages.hpp"
#include "hush/stun/channel_data.hpp"
#include "hush/stun/stream_framing.hpp"

using namespace hush;

namespace {
std::vector<std::byte> binding_with(const std::function<void(stun::MessageBuilder&)>& attrs, bool fp = false) {
  return test::build(stun::Method::binding, stun::Class::request, test::random_tid(), attrs, nullptr, fp);
}
}  // namespace

TEST(MessageParse, RejectsShortHeader) {
  auto m = binding_with({});
  EXPECT_EQ(stun::MessageView::parse(Bytes(m).first(19)).error(), stun::ParseError::too_short);
}

TEST(MessageParse, RejectsWrongCookieAndTopBits) {
  auto m = binding_with({});
  m[4] = std::byte{0};
  EXPECT_EQ(stun::MessageView::parse(m).error(), stun::ParseError::not_stun);
  m = binding_with({});
  m[0] = std::byte{0x40};
  EXPECT_EQ(stun::MessageView::parse(m).error(), stun::ParseError::not_stun);
}

TEST(MessageParse, RejectsLengthThatOverrunsOrIsUnaligned) {
  auto m = binding_with([](auto& b) { b.add_u32(stun::attr::priority, 1); });
  store_u16(m.data() + 2, 12);  // claims more than the datagram
  EXPECT_EQ(stun::MessageView::parse(m).error(), stun::ParseError::bad_length);
  store_u16(m.data() + 2, 6);
  EXPECT_EQ(stun::MessageView::parse(m).error(), stun::ParseError::bad_length);
  m.push_back(std::byte{0});  // trailing garbage after the message
  store_u16(m.data() + 2, 8);
  EXPECT_EQ(stun::MessageView::parse(m).error(), stun::ParseError::bad_length);
}

TEST(MessageParse, RejectsAttributeWithLyingLength) {
  auto m = binding_with([](auto& b) { b.add_u32(stun::attr::priority, 1); });
  store_u16(m.data() + 22, 200);
  EXPECT_EQ(stun::MessageView::parse(m).error(), stun::ParseError::bad_attribute);
}

TEST(MessageParse, RejectsTooManyAttributes) {
  auto m = binding_with([](auto& b) {
    for (int i = 0; i < 60; ++i) b.add_u32(stun::attr::priority, 1);
  });
  EXPECT_EQ(stun::MessageView::parse(m).error(), stun::ParseError::too_many_attributes);
}

TEST(MessageParse, RejectsBadOrMisplacedFingerprint) {
  auto m = binding_with({}, true);
  m.back() ^= std::byte{1};
  EXPECT_EQ(stun::MessageView::parse(m).error(), stun::ParseError::bad_fingerprint);
  // An attribute after FINGERPRINT.
  std::vector<std::byte> buf(128);
  stun::MessageBuilder b(buf, stun::Method::binding, stun::Class::request, test::random_tid().data());
  b.add_fingerprint().add_u32(stun::attr::priority, 1);
  EXPECT_EQ(stun::MessageView::parse(*b.finish()).error(), stun::ParseError::bad_fingerprint);
}

TEST(MessageParse, IgnoresAttributesAfterIntegrityExceptFingerprint) {
  std::vector<std::byte> buf(256);
  stun::MessageBuilder b(buf, stun::Method::binding, stun::Class::request, test::random_tid().data());
  b.add_text(stun::attr::username, "u").add_integrity(as_bytes("k")).add_u32(stun::attr::priority, 7).add_fingerprint();
  auto m = stun::MessageView::parse(*b.finish());
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->has(stun::attr::priority));
  EXPECT_TRUE(m->verify_integrity(as_bytes("k")));
}

TEST(MessageParse, IntegrityOverTheWrongRangeFails) {
  auto auth = test::LongTermAuth{"1:x", "hush", "n", "pw"};
  auto m = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport(), &auth);
  auto key = stun::long_term_key("1:x", "hush", "pw");
  ASSERT_TRUE(stun::MessageView::parse(m)->verify_integrity(key));
  m[21] ^= std::byte{1};  // flip a bit inside the covered range
  EXPECT_FALSE(stun::MessageView::parse(m)->verify_integrity(key));
}

TEST(MessageBuild, Sha256IntegrityRoundTrips) {
  auto auth = test::LongTermAuth{"1:x", "hush", "n", "pw", true};
  auto m = test::build(stun::Method::refresh, stun::Class::request, test::random_tid(), {}, &auth, true);
  auto v = stun::MessageView::parse(m);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->has_integrity_sha256());
  EXPECT_TRUE(v->verify_integrity_sha256(stun::long_term_key("1:x", "hush", "pw")));
  EXPECT_FALSE(v->verify_integrity_sha256(stun::long_term_key("1:x", "hush", "other")));
}

TEST(MessageBuild, OverflowIsReportedNotWrittenPastTheBuffer) {
  std::vector<std::byte> buf(30);
  stun::MessageBuilder b(buf, stun::Method::binding, stun::Class::request, test::random_tid().data());
  b.add_text(stun::attr::software, "this is much too long for the buffer");
  EXPECT_TRUE(b.overflow());
  EXPECT_FALSE(b.finish());
}

TEST(MessageBuild, ErrorCodeAndUnknownAttributesRoundTrip) {
  std::vector<std::byte> buf(256);
  stun::MessageBuilder b(buf, stun::Method::allocate, stun::Class::error, test::random_tid().data());
  const std::uint16_t unknown[] = {0x0031, 0x0032};
  b.add_error(420).add_unknown_attributes(unknown);
  auto m = stun::MessageView::parse(*b.finish());
  ASSERT_TRUE(m.ok());
  auto e = stun::decode_error_code(*m->find(stun::attr::error_code));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 420);
  EXPECT_EQ(e->reason, "Unknown Attribute");
  auto u = *m->find(stun::attr::unknown_attributes);
  ASSERT_EQ(u.size(), 4u);
  EXPECT_EQ(load_u16(u.data()), 0x0031);
}

TEST(MessageType, ClassAndMethodBitsInterleave) {
  EXPECT_EQ(stun::message_type(stun::Method::binding, stun::Class::request), 0x0001);
  EXPECT_EQ(stun::message_type(stun::Method::binding, stun::Class::success), 0x0101);
  EXPECT_EQ(stun::message_type(stun::Method::allocate, stun::Class::error), 0x0113);
  EXPECT_EQ(stun::message_type(stun::Method::data, stun::Class::indication), 0x0017);
  EXPECT_EQ(stun::method_of(0x0113), 0x003);
  EXPECT_EQ(stun::class_of(0x0113), stun::Class::error);
}

TEST(ChannelData, ParsesAndRejectsBadFrames) {
  auto cd = test::channel_data(0x4001, "hello");
  auto v = stun::parse_channel_data(cd);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->channel, 0x4001);
  EXPECT_EQ(as_text(v->payload), "hello");
  cd.push_back(std::byte{0});  // UDP padding after the payload is allowed
  EXPECT_TRUE(stun::parse_channel_data(cd));
  auto lying = test::channel_data(0x4001, "hi");
  store_u16(lying.data() + 2, 100);
  EXPECT_FALSE(stun::parse_channel_data(lying));
  EXPECT_FALSE(stun::parse_channel_data(test::channel_data(0x3FFF, "x")));
  EXPECT_FALSE(stun::parse_channel_data(Bytes(cd).first(3)));
}

// RFC 8656 §12.5: on streams ChannelData is padded to 4; STUN messages are not.
TEST(StreamFraming, FramesStunAndPaddedChannelDataAndRefusesGarbage) {
  using S = stun::StreamFrame::Status;
  std::vector<std::byte> b(8);
  store_u16(b.data(), 0x4001);
  store_u16(b.data() + 2, 3);  // 3 bytes: padded to 8 in all
  auto f = stun::next_stream_frame(Bytes{b.data(), 7}, 100);
  EXPECT_EQ(f.status, S::incomplete);
  EXPECT_EQ(f.size, 8u);
  f = stun::next_stream_frame(b, 100);
  EXPECT_EQ(f.status, S::complete);
  EXPECT_EQ(f.message, 7u);
  EXPECT_EQ(f.size, 8u);
  EXPECT_EQ(stun::next_stream_frame(Bytes{b.data(), 3}, 100).status, S::incomplete);
  EXPECT_EQ(stun::next_stream_frame(b, 7).status, S::too_large);
  std::vector<std::byte> stun(20);
  store_u16(stun.data(), 0x0001);
  store_u16(stun.data() + 2, 0);
  EXPECT_EQ(stun::next_stream_frame(Bytes{stun.data(), 19}, 100).size, 0u);  // header not in yet
  f = stun::next_stream_frame(stun, 100);
  EXPECT_EQ(f.status, S::complete);
  EXPECT_EQ(f.size, 20u);
  std::vector<std::byte> garbage(8, std::byte{0x80});
  EXPECT_EQ(stun::next_stream_frame(garbage, 100).status, S::malformed);
}

TEST(Crc32, MatchesTheIeeeCheckValue) { EXPECT_EQ(stun::crc32(as_bytes("123456789")), 0xCBF43926u); }

// RFC 8656 §18.13: 16 reserved bits, the type and the code in a byte each, then the error data.
TEST(Icmp, AttributeLayoutIsReservedTypeCodeErrorData) {
  std::byte buf[64];
  const auto tid = test::random_tid();
  stun::MessageBuilder b(buf, stun::Method::data, stun::Class::indication, tid.data());
  b.add_icmp(3, 4, 1400);
  auto msg = b.finish();
  ASSERT_TRUE(msg);
  auto m = stun::MessageView::parse(*msg);
  ASSERT_TRUE(m);
  auto v = m->find(stun::attr::icmp);
  ASSERT_TRUE(v);
  ASSERT_EQ(v->size(), 8u);
  const std::uint8_t want[8] = {0x00, 0x00, 0x03, 0x04, 0x00, 0x00, 0x05, 0x78};  // type 3, code 4, 1400
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(std::to_integer<std::uint8_t>((*v)[i]), want[i]) << i;
  auto i = stun::decode_icmp(*v);
  ASSERT_TRUE(i);
  EXPECT_EQ(i->type, 3);
  EXPECT_EQ(i->code, 4);
  EXPECT_EQ(i->error_data, 1400u);
  // The largest values the fields hold, and a value of the wrong size.
  std::byte buf2[64];
  stun::MessageBuilder b2(buf2, stun::Method::data, stun::Class::indication, tid.data());
  b2.add_icmp(255, 255, 0);
  auto m2 = stun::MessageView::parse(*b2.finish());
  i = stun::decode_icmp(*m2->find(stun::attr::icmp));
  EXPECT_EQ(i->type, 255);
  EXPECT_EQ(i->code, 255);
  EXPECT_FALSE(stun::decode_icmp(v->first(7)));
}
