// --users-file: coturn's user= forms, the errors a bad file gets, and static users verifying
// beside REST credentials in the TURN core.
#include <gtest/gtest.h>

#include "../../support/turn_fixture.hpp"
#include "hush/auth/user_table.hpp"
#include "hush/stun/integrity.hpp"

using namespace hush;
using hush::test::TurnFixture;

namespace {

std::array<std::byte, 16> md5_key(const auth::UserTable& t, std::string_view name) {
  const auto* u = t.find(name);
  EXPECT_NE(u, nullptr) << name;
  return u ? u->md5_key : std::array<std::byte, 16>{};
}

}  // namespace

// coturn's own example (examples/etc/turnserver.conf): `turnadmin -k -u ninefingers -r
// north.gov -p youhavetoberealistic` prints 0xbc807ee29df3c9ffa736523fb2c4e8ee.
TEST(UserTable, APasswordAndCoturnsKeyFormGiveTheSameKey) {
  auto clear = auth::UserTable::parse("ninefingers:youhavetoberealistic\n", "north.gov", "users");
  auto keyed = auth::UserTable::parse("ninefingers:0xbc807ee29df3c9ffa736523fb2c4e8ee\n", "north.gov", "users");
  ASSERT_TRUE(clear) << clear.error();
  ASSERT_TRUE(keyed) << keyed.error();
  EXPECT_EQ(md5_key(*clear, "ninefingers"), md5_key(*keyed, "ninefingers"));
  EXPECT_EQ(md5_key(*clear, "ninefingers"), stun::long_term_key("ninefingers", "north.gov", "youhavetoberealistic"));
  // Only a password gives the SHA-256 key of PASSWORD-ALGORITHM SHA-256.
  EXPECT_TRUE(clear->find("ninefingers")->sha256_key.has_value());
  EXPECT_FALSE(keyed->find("ninefingers")->sha256_key.has_value());
}

TEST(UserTable, CommentsBlanksAndColonsInPasswords) {
  auto t = auth::UserTable::parse("# softphones\n\n  alice:pass:with:colons  \r\nbob:0XBC807EE29DF3C9FFA736523FB2C4E8EE\n",
                                  "hush", "users");
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->size(), 2u);
  EXPECT_EQ(md5_key(*t, "alice"), stun::long_term_key("alice", "hush", "pass:with:colons"));
  EXPECT_NE(t->find("bob"), nullptr);
  EXPECT_EQ(t->find("carol"), nullptr);
  EXPECT_EQ(t->find("alic"), nullptr);
  EXPECT_EQ(t->find(""), nullptr);
}

TEST(UserTable, ABadFileIsRefusedNamingTheLineButNotItsContent) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"alice\n", "users line 1: expected name:password"},
                        Case{"# x\n:secret-one\n", "users line 2: the name is empty"},
                        Case{"alice:\n", "users line 1: the password is empty"},
                        Case{"alice:0xbc807ee29df3c9ffa736523fb2c4e8e\n", "users line 1: a value starting with 0x"},
                        Case{"alice:0xzz807ee29df3c9ffa736523fb2c4e8ee\n", "users line 1: a value starting with 0x"},
                        Case{"alice:one\nbob:two\nalice:three\n", "users: a name appears twice"},
                        Case{"# only comments\n\n", "users holds no user"}}) {
    auto t = auth::UserTable::parse(c.text, "hush", "users");
    ASSERT_FALSE(t) << c.text;
    EXPECT_EQ(t.error().rfind(c.says, 0), 0u) << t.error();
    for (const char* secret : {"secret-one", "three", "zz807"}) EXPECT_EQ(t.error().find(secret), std::string::npos);
  }
  EXPECT_FALSE(auth::UserTable::parse(std::string(513, 'n') + ":p\n", "hush", "users"));
  EXPECT_TRUE(auth::UserTable::parse(std::string(512, 'n') + ":p\n", "hush", "users"));
}

class StaticUsers : public TurnFixture {
 protected:
  void SetUp() override {
    users = *auth::UserTable::parse("alice:wonderland\nbob:0x" + hex_key("bob", "builder") + "\n", realm, "users");
    start(2);
  }
  static std::string hex_key(const std::string& user, const std::string& password) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (auto b : stun::long_term_key(user, "hush", password)) {
      out += digits[std::to_integer<int>(b) >> 4];
      out += digits[std::to_integer<int>(b) & 15];
    }
    return out;
  }
  int allocate_as(const std::string& user, const std::string& password, const Endpoint& from, bool sha256_key = false) {
    test::LongTermAuth a{user, realm, nonces->issue(now.unix, from), password};
    a.sha256_key = sha256_key;
    auto replies = deliver(test::build(stun::Method::allocate, stun::Class::request, test::random_tid(),
                                       test::udp_transport(), &a),
                           from);
    return replies.size() == 1 ? replies[0].error_code() : -1;
  }
  Endpoint source(int i) const { return *Endpoint::parse("192.0.2." + std::to_string(i) + ":40000"); }
};

TEST_F(StaticUsers, BothFormsAndRestCredentialsVerifyInOneRelay) {
  EXPECT_EQ(allocate_as("alice", "wonderland", source(1)), 0);
  EXPECT_EQ(allocate_as("bob", "builder", source(2)), 0);
  EXPECT_EQ(request(stun::Method::allocate, test::udp_transport(), source(3)).error_code(), 0);  // REST
  EXPECT_EQ(allocate_as("alice", "looking-glass", source(4)), 401);
  EXPECT_EQ(allocate_as("carol", "wonderland", source(5)), 401);
  // A static user is checked against its own key only: the REST secret's password for that
  // name does not open it.
  EXPECT_EQ(allocate_as("alice", auth::rest_password(secret, "alice"), source(6)), 401);
}

TEST_F(StaticUsers, PasswordAlgorithmSha256NeedsThePassword) {
  EXPECT_EQ(allocate_as("alice", "wonderland", source(1), true), 0);
  EXPECT_EQ(allocate_as("bob", "builder", source(2), true), 401);  // a 0x key is MD5's only
  EXPECT_EQ(allocate_as("bob", "builder", source(3), false), 0);
}

TEST_F(StaticUsers, TheUserQuotaCountsAStaticUsersAllocationsFromEverySource) {
  EXPECT_EQ(allocate_as("alice", "wonderland", source(1)), 0);
  EXPECT_EQ(allocate_as("alice", "wonderland", source(2)), 0);
  EXPECT_EQ(allocate_as("alice", "wonderland", source(3)), 486);  // start(2): two per user
  EXPECT_EQ(allocate_as("bob", "builder", source(4)), 0);
}
