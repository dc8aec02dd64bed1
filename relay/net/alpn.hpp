// RFC 7443: TURN over TLS and DTLS negotiates ALPN "stun.turn". A client that offers other
// protocols only is served without ALPN.
#pragma once

#include <openssl/ssl.h>

namespace hush::net {

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

}  // namespace hush::net
