// libFuzzer: REST usernames ("EXPIRY" or "EXPIRY:anything", coturn's use-auth-secret) as the
// authenticator sees them: a signed request carrying the fuzzed username, a valid nonce and
// the password the secret gives for it must be accepted exactly when the username names an
// expiry that has not passed, and a wrong password never.
#include <string>
#include <string_view>

#include "../support/stun_messages.hpp"
#include "hush/auth/authenticator.hpp"
#include "hush/auth/rest_credential.hpp"

using namespace hush;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 600) return 0;
  const bool wrong = data[0] & 1;
  const std::string username(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::int64_t now = 1'700'000'000;
  const auto expiry = auth::rest_expiry(username);
  auto nonces = std::make_shared<const auth::NonceIssuer>(auth::NonceIssuer(std::array<std::uint8_t, 32>{}, 600));
  auth::Authenticator a("hush", auth::SecretSet({"secret"}), nonces);
  const Endpoint client = *Endpoint::parse("192.0.2.1:1000");
  test::LongTermAuth creds{username, "hush", nonces->issue(now, client),
                           wrong ? "wrong" : auth::rest_password("secret", username)};
  std::vector<std::byte> msg;
  try {
    msg = test::build(stun::Method::allocate, stun::Class::request, stun::TransactionId{}, {}, &creds);
  } catch (const std::length_error&) {
    return 0;  // a username longer than STUN can carry
  }
  auto view = stun::MessageView::parse(msg);
  if (!view) return 0;  // USERNAME over 513 bytes: the builder writes it, the parser refuses it
  auto result = a.authenticate(*view, now, client);
  const bool should = !wrong && expiry && *expiry >= now;
  if (result.ok() && !should) __builtin_trap();
  if (!result.ok() && should && username.size() <= 512 && username.find('\0') == std::string::npos) __builtin_trap();
  return 0;
}
