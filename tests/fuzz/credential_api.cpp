// libFuzzer: the credential API's request handler (--api), from the method, target and
// Authorization header the HTTP server hands it. Only the statuses it documents come back;
// a 200 carries a credential whose username names an expiry within the allowed ttl.
#include <string>
#include <string_view>

#include "hush/api/credential_api.hpp"
#include "hush/auth/rest_credential.hpp"

using namespace hush;

namespace {
std::string field(std::string_view& in) {
  const auto bar = in.find('\x01');
  std::string out(in.substr(0, bar));
  in = bar == std::string_view::npos ? std::string_view{} : in.substr(bar + 1);
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static api::CredentialApi api(api::ApiOptions{600, 3600, 1000, 1000, 1000, 1000, {"turn:192.0.2.1:3478"}},
                                auth::SecretSet({"key-one", "key-two"}), auth::SecretSet({"secret"}));
  std::string_view in(reinterpret_cast<const char*>(data), size);
  http::Request r;
  r.method = field(in);
  r.target = field(in);
  r.authorization = field(in);
  static std::int64_t mono = 0;
  mono += 1'000'000;
  const std::int64_t now = 1'700'000'000;
  const auto res = api.handle(r, now, mono);
  switch (res.status) {
    case 200: {
      const auto at = res.body.find("\"username\":\"");
      if (at == std::string::npos) __builtin_trap();
      const auto start = at + 12;
      const auto expiry = auth::rest_expiry(std::string_view(res.body).substr(start, res.body.find('"', start) - start));
      if (!expiry || *expiry < now + 30 || *expiry > now + 3600) __builtin_trap();
      break;
    }
    case 400: case 401: case 404: case 405: case 429:
      break;
    default:
      __builtin_trap();
  }
  return 0;
}
