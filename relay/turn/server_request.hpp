// Private to the turn module: a request as the method handlers see it.
#pragma once

#include "hush/stun/builder.hpp"
#include "hush/turn/server.hpp"

namespace hush::turn {

struct Server::Request {
  const Now& now;
  FiveTuple tuple;
  const stun::MessageView& msg;
  auth::Credentials creds;
};

bool known_request_attribute(std::uint16_t type);

template <class Fill>
inline void Server::reply_authenticated(const Request& r, Allocation* cache_in, Outbox& out, Fill fill) {
  stun::MessageBuilder b(out.scratch(), r.msg.method(), stun::Class::success, r.msg.transaction_id_ptr());
  fill(b);
  sign(b, r.creds, r.msg.has_fingerprint());
  auto msg = b.finish();
  if (!msg) return;
  Bytes sent = out.commit(msg->size());
  if (cache_in != nullptr) cache_in->responses.store(r.msg.transaction_id_ptr(), sent);
  emit(r, sent, out);
}


}  // namespace hush::turn
