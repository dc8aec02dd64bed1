// What the TLS and DTLS contexts share: ALPN and no session resumption.
#pragma once

#include <openssl/ssl.h>

namespace hush::net {

// RFC 7443: TURN over TLS and DTLS negotiates ALPN "stun.turn". A client that offers other
// protocols only is served without ALPN.
inline int select_turn_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                            unsigned inlen, void*) {
  static const unsigned char kTurn[] = {9, 's', 't', 'u', 'n', '.', 't', 'u', 'r', 'n'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kTurn, sizeof kTurn, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// No session tickets and no session cache: a resumed session tells the relay (and, since the
// ticket or session id travels in the clear in the ClientHello, anyone on the path) that two
// connections are the same caller's, from wherever they come. What resumption would save is
// measured in docs/privacy.md: a quarter of a TLS 1.3 handshake's CPU, three fifths of a
// DTLS 1.2 one, once per call.
inline void no_resumption(SSL_CTX* ctx) {
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

}  // namespace hush::net
