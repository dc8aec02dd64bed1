// The credential-issuing endpoint (TURN REST API draft, draft-uberti-behave-turn-rest-00):
// an application server asks with an API key and gets an anonymous, short-lived credential.
//
//   GET /?service=turn[&username=U][&ttl=S]      Authorization: Bearer KEY
//   200 {"username":"EXPIRY:RANDOM","password":"...","ttl":600,"uris":["turn:..."]}
//
// The username handed out carries an expiry and randomness only. The `username` query value
// (the draft's caller id) only feeds a rate limit, as a keyed hash in a fixed-size table in
// memory; it never reaches the credential, a log line or a metric. A missing or wrong key
// gets 401 with an empty body. A protocol core: no sockets, no clock, no threads; the caller
// serializes calls (the HTTP server runs it on one thread; reloads take the lock).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "hush/auth/secret_set.hpp"
#include "hush/base/http.hpp"
#include "hush/policy/rate_limiter.hpp"

namespace hush::api {

struct ApiOptions {
  std::int64_t default_ttl = 600;
  std::int64_t max_ttl = 3600;
  double key_rate = 20;         // credentials per second per API key
  double key_burst = 100;
  double username_rate = 1;     // per `username` query value (a caller)
  double username_burst = 10;
  std::vector<std::string> uris;  // listed in every answer
};

class CredentialApi {
 public:
  // `keys`: accepted API keys (one application server each, typically).
  CredentialApi(ApiOptions options, auth::SecretSet keys, auth::SecretSet secrets);

  http::Response handle(const http::Request& r, std::int64_t unix_now, std::int64_t mono_ns);
  // A reload: new keys, secrets and options at once; rate-limit state is kept.
  void reconfigure(ApiOptions options, auth::SecretSet keys, auth::SecretSet secrets);

 private:
  int find_key(std::string_view presented) const;  // index of the key, or -1

  std::mutex mutex_;
  ApiOptions options_;
  std::vector<std::array<unsigned char, 32>> key_digests_;
  auth::SecretSet secrets_;
  policy::TokenBucketTable key_buckets_;
  policy::TokenBucketTable username_buckets_;
};

}  // namespace hush::api
