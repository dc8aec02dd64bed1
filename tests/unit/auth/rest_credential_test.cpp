// coturn-compatible REST credentials, secret rotation, stateless nonces.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "../../support/stun_messages.hpp"
#include "hush/auth/authenticator.hpp"
#include "hush/auth/nonce.hpp"
#include "hush/auth/rest_credential.hpp"

using namespace hush;

TEST(RestCredential, PasswordIsBase64HmacSha1OfTheUsername) {
  // Same value as Python's base64(hmac.new(b'north', b'1700000000:alice', sha1)), and coturn's.
  EXPECT_EQ(auth::rest_password("north", "1700000000:alice"), "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
}

TEST(RestCredential, ExpiryIsTheLeadingTimestamp) {
  EXPECT_EQ(auth::rest_expiry("1700000000"), 1700000000);
  EXPECT_EQ(auth::rest_expiry("1700000000:anything:else"), 1700000000);
  EXPECT_FALSE(auth::rest_expiry("alice:1700000000"));
  EXPECT_FALSE(auth::rest_expiry(""));
  EXPECT_FALSE(auth::rest_expiry("-5:x"));
}

TEST(RestCredential, MintedUsernameCarriesOnlyExpiryAndRandomness) {
  auth::SecretSet s({"north"});
  auto a = auth::mint_credential(s, 1000, 600);
  auto b = auth::mint_credential(s, 1000, 600);
  EXPECT_EQ(auth::rest_expiry(a.username), 1600);
  EXPECT_NE(a.username, b.username);
  EXPECT_EQ(a.username.size(), std::string("1600:").size() + 12);  // 9 random bytes, base64url
  EXPECT_EQ(a.password, auth::rest_password("north", a.username));
}

TEST(SecretSet, LoadsFileSkippingCommentsAndFailsClearly) {
  char path[] = "/tmp/hush-secrets-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "# rotate: newest first\nnew-secret\n\n  old-secret  \n";
  auto s = auth::SecretSet::load_file(path);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->all(), (std::vector<std::string>{"new-secret", "old-secret"}));
  EXPECT_EQ(s->minting(), "new-secret");
  std::ofstream(path) << "# nothing\n";
  EXPECT_FALSE(auth::SecretSet::load_file(path).ok());
  std::remove(path);
  EXPECT_FALSE(auth::SecretSet::load_file("/nonexistent/secret").ok());
}

TEST(SecretSet, ParsesTextWithCrLfBlanksAndNoFinalNewline) {
  auto s = auth::SecretSet::parse("# header\r\n\tfirst \r\n\n   \nsecond", "inline");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->all(), (std::vector<std::string>{"first", "second"}));
  auto none = auth::SecretSet::parse("\n# only a comment\r\n", "inline");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error(), "inline holds no secret");
}

TEST(Nonce, ValidForItsClientUntilItExpires) {
  auto issuer = auth::NonceIssuer::with_key_from_secret("secret", 600);
  auto client = *Endpoint::parse("192.0.2.10:5000");
  auto same_host = *Endpoint::parse("192.0.2.10:5001");  // another connection of the client
  auto other = *Endpoint::parse("192.0.2.11:5000");
  auto n = issuer.issue(1000, client);
  EXPECT_EQ(n.size(), auth::NonceIssuer::kEncodedSize);
  EXPECT_EQ(issuer.check(n, 1000, client), auth::NonceCheck::valid);
  EXPECT_EQ(issuer.check(n, 1600, client), auth::NonceCheck::valid);
  EXPECT_EQ(issuer.check(n, 1601, client), auth::NonceCheck::stale);
  EXPECT_EQ(issuer.check(n, 1000, same_host), auth::NonceCheck::valid);
  EXPECT_EQ(issuer.check(n, 1000, other), auth::NonceCheck::stale);
  auto forged = n;
  forged[15] = forged[15] == 'A' ? 'B' : 'A';
  EXPECT_EQ(issuer.check(forged, 1000, client), auth::NonceCheck::stale);
  EXPECT_EQ(issuer.check("short", 1000, client), auth::NonceCheck::stale);
  auto another_key = auth::NonceIssuer::with_key_from_secret("another secret", 600);
  EXPECT_EQ(another_key.check(n, 1000, client), auth::NonceCheck::stale);
}

TEST(Nonce, RelaysKeyedByOneSecretAcceptEachOthersNonces) {
  auto client = *Endpoint::parse("192.0.2.10:5000");
  auto first = auth::NonceIssuer::with_key_from_secret("shared", 600);
  auto second = auth::NonceIssuer::with_key_from_secret("shared", 600);
  auto n = first.issue(1000, client);
  EXPECT_EQ(second.check(n, 1000, client), auth::NonceCheck::valid);
  EXPECT_EQ(second.check(n, 1000, *Endpoint::parse("192.0.2.11:5000")), auth::NonceCheck::stale);
  EXPECT_EQ(auth::NonceIssuer::with_key_from_secret("another", 600).check(n, 1000, client), auth::NonceCheck::stale);
  // The key is not the secret itself.
  EXPECT_EQ(auth::NonceIssuer(std::array<std::uint8_t, 32>{'s', 'h', 'a', 'r', 'e', 'd'}, 600).check(n, 1000, client),
            auth::NonceCheck::stale);
}

namespace {
struct AuthFixture : ::testing::Test {
  std::shared_ptr<const auth::NonceIssuer> nonces =
      std::make_shared<const auth::NonceIssuer>(auth::NonceIssuer::with_key_from_secret("new", 600));
  auth::Authenticator authn{"hush", auth::SecretSet({"new", "old"}), nonces};
  Endpoint client = *Endpoint::parse("192.0.2.1:4000");
  std::int64_t now = 10000;

  Result<auth::Credentials, auth::AuthFailure> check(const std::string& user, const std::string& secret,
                                                     std::string nonce = "", std::string realm = "hush") {
    if (nonce.empty()) nonce = nonces->issue(now, client);
    test::LongTermAuth a{user, realm, nonce, auth::rest_password(secret, user)};
    auto bytes = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport(), &a);
    stored = bytes;
    return authn.authenticate(*stun::MessageView::parse(stored), now, client);
  }
  std::vector<std::byte> stored;
};
}  // namespace

TEST_F(AuthFixture, AcceptsEverySecretOfTheSet) {
  EXPECT_TRUE(check("20000:a", "new").ok());
  EXPECT_TRUE(check("20000:a", "old").ok());
  EXPECT_EQ(check("20000:a", "unknown").error(), auth::AuthFailure::bad_integrity);
}

TEST_F(AuthFixture, RejectsExpiredAndMalformedUsernames) {
  EXPECT_EQ(check("9999:a", "new").error(), auth::AuthFailure::expired_credential);
  EXPECT_EQ(check("alice", "new").error(), auth::AuthFailure::bad_username);
}

TEST_F(AuthFixture, StaleNonceAndWrongRealm) {
  EXPECT_EQ(check("20000:a", "new", "AAAAAAAAAAAAAAAA").error(), auth::AuthFailure::stale_nonce);
  EXPECT_EQ(check("20000:a", "new", "", "other.realm").error(), auth::AuthFailure::bad_integrity);
}

TEST_F(AuthFixture, NoIntegrityIsAChallengeAndMissingAttributesABadRequest) {
  auto plain = test::build(stun::Method::allocate, stun::Class::request, test::random_tid(), test::udp_transport());
  EXPECT_EQ(authn.authenticate(*stun::MessageView::parse(plain), now, client).error(), auth::AuthFailure::no_integrity);
  std::vector<std::byte> buf(256);
  stun::MessageBuilder b(buf, stun::Method::allocate, stun::Class::request, test::random_tid().data());
  b.add_text(stun::attr::username, "20000:a").add_integrity(as_bytes("k"));
  EXPECT_EQ(authn.authenticate(*stun::MessageView::parse(*b.finish()), now, client).error(),
            auth::AuthFailure::missing_attributes);
}
