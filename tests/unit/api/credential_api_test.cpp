// The credential API as a function: keys, the draft's query, anonymous usernames, TTL
// bounds, rate limits, errors.
#include <gtest/gtest.h>

#include <regex>

#include "hush/api/credential_api.hpp"
#include "hush/auth/rest_credential.hpp"

using namespace hush;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;
constexpr const char* kKey = "app-server-key-0123456789";

api::CredentialApi make(api::ApiOptions o = {}) {
  o.uris = {"turn:203.0.113.10:3478?transport=udp"};
  return api::CredentialApi(o, auth::SecretSet({kKey, "second-key-abcdefghijkl"}), auth::SecretSet({"the-secret"}));
}

http::Request get(std::string target, std::string auth = std::string("Bearer ") + kKey) {
  return http::Request{"GET", std::move(target), std::move(auth)};
}

std::string field(const std::string& json, const std::string& name) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + name + "\":\"?([^\",]*)\"?"))) return m[1];
  return "";
}

}  // namespace

TEST(CredentialApi, MintsAnAnonymousCredentialThatVerifies) {
  auto api = make();
  auto r = api.handle(get("/?service=turn&username=%40alice%3Aexample.org"), kNow, 0);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  const std::string user = field(r.body, "username");
  EXPECT_TRUE(std::regex_match(user, std::regex(R"(\d+:[A-Za-z0-9_-]{12})"))) << user;
  EXPECT_EQ(user.substr(0, user.find(':')), std::to_string(kNow + 600));
  EXPECT_EQ(r.body.find("alice"), std::string::npos);  // the caller id never reaches the credential
  EXPECT_EQ(field(r.body, "password"), auth::rest_password("the-secret", user));
  EXPECT_EQ(field(r.body, "ttl"), "600");
  EXPECT_NE(r.body.find(R"("uris":["turn:203.0.113.10:3478?transport=udp"])"), std::string::npos);
  // Two answers share nothing but the expiry.
  auto again = api.handle(get("/?service=turn&username=%40alice%3Aexample.org"), kNow, 0);
  EXPECT_NE(field(again.body, "username"), user);
}

TEST(CredentialApi, AMissingOrWrongKeyGets401AndNothingElse) {
  auto api = make();
  for (const auto& req : {get("/?service=turn", ""), get("/?service=turn", "Bearer wrong"),
                          get("/?service=turn", std::string("Basic ") + kKey), get("/?service=nope", "Bearer x")}) {
    auto r = api.handle(req, kNow, 0);
    EXPECT_EQ(r.status, 401);
    EXPECT_TRUE(r.body.empty());
  }
  EXPECT_EQ(api.handle(get("/?service=turn", "Bearer second-key-abcdefghijkl"), kNow, 0).status, 200);
  // The draft's ?key= works too.
  EXPECT_EQ(api.handle(get(std::string("/?service=turn&key=") + kKey, ""), kNow, 0).status, 200);
}

TEST(CredentialApi, ErrorsAreJson) {
  auto api = make();
  auto bad = [&](const std::string& target, int status) {
    auto r = api.handle(get(target), kNow, 0);
    EXPECT_EQ(r.status, status) << target;
    EXPECT_EQ(r.content_type, "application/json") << target;
    EXPECT_EQ(r.body.rfind("{\"error\":\"", 0), 0u) << target << " " << r.body;
  };
  bad("/?service=stun", 400);
  bad("/", 400);
  bad("/?service=turn&ttl=abc", 400);
  bad("/?service=turn&ttl=5", 400);
  bad("/?service=turn&username=%zz", 400);
  bad("/?service=turn&username=" + std::string(300, 'a'), 400);
  bad("/elsewhere?service=turn", 404);
  auto post = api.handle(http::Request{"POST", "/?service=turn", std::string("Bearer ") + kKey}, kNow, 0);
  EXPECT_EQ(post.status, 405);
}

TEST(CredentialApi, TtlIsBoundedByTheMaximum) {
  api::ApiOptions o;
  o.max_ttl = 900;
  auto api = make(o);
  EXPECT_EQ(field(api.handle(get("/?service=turn&ttl=60"), kNow, 0).body, "ttl"), "60");
  auto r = api.handle(get("/?service=turn&ttl=86400"), kNow, 0);
  EXPECT_EQ(field(r.body, "ttl"), "900");
  EXPECT_EQ(field(r.body, "username").substr(0, 10), std::to_string(kNow + 900));
}

TEST(CredentialApi, RateLimitsPerKeyAndPerCallerRefill) {
  api::ApiOptions o;
  o.key_rate = 10;
  o.key_burst = 20;
  o.username_rate = 1;
  o.username_burst = 3;
  auto api = make(o);
  // One caller: 3, then 429 with Retry-After.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(api.handle(get("/?service=turn&username=bob"), kNow, 0).status, 200);
  auto limited = api.handle(get("/?service=turn&username=bob"), kNow, 0);
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.at(0).first, "Retry-After");
  // Another caller is not affected, until the key's own budget (20) runs out.
  int ok = 0;
  for (int i = 0; i < 30; ++i) ok += api.handle(get("/?service=turn&username=u" + std::to_string(i)), kNow, 0).status == 200;
  EXPECT_EQ(ok, 20 - 4);  // the key spent 4 on bob
  // A second later the key has 10 more.
  ok = 0;
  for (int i = 0; i < 30; ++i)
    ok += api.handle(get("/?service=turn&username=v" + std::to_string(i)), kNow + 1, 1'000'000'000).status == 200;
  EXPECT_EQ(ok, 10);
}

TEST(CredentialApi, ReconfigureSwapsKeysAndSecrets) {
  auto api = make();
  api.reconfigure(api::ApiOptions{}, auth::SecretSet({"new-key-0123456789abc"}), auth::SecretSet({"new-secret"}));
  EXPECT_EQ(api.handle(get("/?service=turn"), kNow, 0).status, 401);
  auto r = api.handle(get("/?service=turn", "Bearer new-key-0123456789abc"), kNow, 0);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(field(r.body, "password"), auth::rest_password("new-secret", field(r.body, "username")));
}
