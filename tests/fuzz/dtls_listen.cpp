// libFuzzer: the DTLS datagram path up to the handshake (RFC 7350, RFC 6347 §4.2.1): datagrams
// from two sources into a worker's DtlsHub, which must answer a ClientHello without a valid
// cookie statelessly, keep no state for anything else, and never crash on what OpenSSL's
// record layer and its own checks in front of it are given. The input is a sequence of
// [source][length hi][length lo][bytes] datagrams.
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "fakes.hpp"
#include "hush/net/dtls.hpp"

using namespace hush;
using namespace hush::fuzz;

namespace {

// A self-signed P-256 certificate and key, written once for make_dtls_context.
std::pair<std::string, std::string> make_certificate() {
  const std::string dir = "/tmp/hush-fuzz-dtls-" + std::to_string(::getpid());
  const std::string cert = dir + "-cert.pem", key = dir + "-key.pem";
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pkey);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("hush-fuzz"), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_sign(x, pkey, EVP_sha256());
  FILE* f = std::fopen(cert.c_str(), "w");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(key.c_str(), "w");
  PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(pkey);
  return {cert, key};
}

struct World {
  Ports ports;
  std::unique_ptr<turn::Server> server;
  turn::Outbox out{64, 64 * 1024};
  net::ConnectionLimits limits{4, 2};
  std::unique_ptr<net::DtlsHub> hub;
  int fd = -1;

  World() {
    auto [cert, key] = make_certificate();
    auto ctx = net::make_dtls_context(cert, key);
    std::remove(cert.c_str());
    std::remove(key.c_str());
    if (!ctx) __builtin_trap();
    policy::PeerPolicyConfig pc;
    auto nonces = std::make_shared<const auth::NonceIssuer>(auth::NonceIssuer(std::array<std::uint8_t, 32>{}, 600));
    auto snap = std::make_shared<const turn::Snapshot>(
        turn::Snapshot{auth::Authenticator("hush", auth::SecretSet({"s"}), nonces), policy::PeerPolicy(pc, nullptr)});
    server = std::make_unique<turn::Server>(turn::ServerOptions{}, snap, ports);
    // Answers (HelloVerifyRequests, alerts) go out of a real socket to the loopback, where
    // nothing listens at the sources' ports.
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    hub = std::make_unique<net::DtlsHub>(*server, out, [this] { out.clear(); }, net::StreamOptions{}, limits);
    hub->add_socket(fd);
    hub->set_context(*ctx);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World w;
  const Endpoint sources[2] = {*Endpoint::parse("127.0.0.1:9"), *Endpoint::parse("127.0.0.2:9")};
  turn::Now now{turn::TimePoint{} + std::chrono::hours(1), 1'700'000'000};
  std::size_t pos = 0;
  while (pos + 3 <= size) {
    const std::uint8_t src = data[pos];
    const std::size_t len = std::min<std::size_t>((data[pos + 1] << 8) | data[pos + 2], size - pos - 3);
    w.hub->on_datagram(now, 0, sources[src % 2], reinterpret_cast<const std::byte*>(data + pos + 3), len);
    pos += 3 + len;
    now.mono += std::chrono::milliseconds(src);
    if (src & 0x80) w.hub->on_tick(now);
  }
  // Without the cookie no source may hold a session; with it (which a mutation cannot
  // compute), it would. Nothing outlives the input either way.
  if (w.hub->sessions() > 2) __builtin_trap();
  w.hub->close_all();
  return 0;
}
