#include "hush/api/credential_api.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>

#include "hush/auth/rest_credential.hpp"
#include "hush/base/hash.hpp"

namespace hush::api {

namespace {

constexpr std::size_t kBuckets = 4096;  // per table: bounded memory whatever the callers do
constexpr std::size_t kMaxUsername = 256;

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> out{};
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &n, EVP_sha256(), nullptr);
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded value; nullopt on a broken escape.
std::optional<std::string> decode(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '+') {
      out += ' ';
    } else if (v[i] == '%') {
      if (i + 2 >= v.size()) return std::nullopt;
      const int hi = hex(v[i + 1]);
      const int lo = hex(v[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += v[i];
    }
  }
  return out;
}

struct Query {
  std::optional<std::string> service, username, ttl, key;
  bool malformed = false;
};

Query parse_query(std::string_view target) {
  Query q;
  const auto at = target.find('?');
  if (at == std::string_view::npos) return q;
  std::string_view rest = target.substr(at + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    auto value = decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!value) {
      q.malformed = true;
      return q;
    }
    if (name == "service") q.service = std::move(value);
    else if (name == "username") q.username = std::move(value);
    else if (name == "ttl") q.ttl = std::move(value);
    else if (name == "key") q.key = std::move(value);
  }
  return q;
}

http::Response json_error(int status, std::string_view message) {
  http::Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = "{\"error\":\"" + std::string(message) + "\"}";
  return r;
}

}  // namespace

CredentialApi::CredentialApi(ApiOptions options, auth::SecretSet keys, auth::SecretSet secrets)
    : key_buckets_(kBuckets), username_buckets_(kBuckets) {
  reconfigure(std::move(options), std::move(keys), std::move(secrets));
}

void CredentialApi::reconfigure(ApiOptions options, auth::SecretSet keys, auth::SecretSet secrets) {
  std::lock_guard lock(mutex_);
  options_ = std::move(options);
  key_digests_.clear();
  for (const auto& k : keys.all()) key_digests_.push_back(sha256(k));
  secrets_ = std::move(secrets);
}

int CredentialApi::find_key(std::string_view presented) const {
  // Compare digests in constant time, over every key, so timing tells nothing.
  const auto digest = sha256(presented);
  int found = -1;
  for (std::size_t i = 0; i < key_digests_.size(); ++i)
    if (CRYPTO_memcmp(digest.data(), key_digests_[i].data(), digest.size()) == 0) found = static_cast<int>(i);
  return found;
}

http::Response CredentialApi::handle(const http::Request& r, std::int64_t unix_now, std::int64_t mono_ns) {
  std::lock_guard lock(mutex_);
  if (r.method != "GET") {
    auto res = json_error(405, "only GET");
    res.headers.emplace_back("Allow", "GET");
    return res;
  }
  if (http::path_of(r.target) != "/") return json_error(404, "not found: GET /?service=turn");
  const Query q = parse_query(r.target);

  // The key first: without a valid one, nothing else is said.
  std::string_view presented;
  constexpr std::string_view kBearer = "Bearer ";
  if (r.authorization.size() > kBearer.size() && r.authorization.compare(0, kBearer.size(), kBearer) == 0)
    presented = std::string_view(r.authorization).substr(kBearer.size());
  else if (q.key)
    presented = *q.key;  // the draft's ?key=; a header keeps it out of proxy logs
  const int key = presented.empty() ? -1 : find_key(presented);
  if (key < 0) {
    http::Response res;
    res.status = 401;
    res.headers.emplace_back("WWW-Authenticate", "Bearer");
    return res;
  }

  if (q.malformed) return json_error(400, "malformed query");
  if (q.service != "turn") return json_error(400, "service must be turn");
  if (q.username && q.username->size() > kMaxUsername) return json_error(400, "username too long");
  std::int64_t ttl = options_.default_ttl;
  if (q.ttl) {
    auto [p, ec] = std::from_chars(q.ttl->data(), q.ttl->data() + q.ttl->size(), ttl);
    if (ec != std::errc{} || p != q.ttl->data() + q.ttl->size() || ttl < 30)
      return json_error(400, "ttl must be a number of seconds, at least 30");
    ttl = std::min(ttl, options_.max_ttl);
  }
  // A caller's name is kept only as its keyed hash (base/hash.hpp: SipHash under a key
  // drawn per process), 64 bits naming a bucket.
  if (!key_buckets_.take(static_cast<std::uint64_t>(key) + 1, options_.key_rate, options_.key_burst, mono_ns) ||
      (q.username && !q.username->empty() &&
       !username_buckets_.take(hash_bytes(q.username->data(), q.username->size()) | 1, options_.username_rate,
                               options_.username_burst, mono_ns))) {
    auto res = json_error(429, "rate limited");
    res.headers.emplace_back("Retry-After", "1");
    return res;
  }
  http::Response res;
  res.content_type = "application/json";
  res.body = auth::credential_json(auth::mint_credential(secrets_, unix_now, ttl), ttl, options_.uris);
  return res;
}

}  // namespace hush::api
