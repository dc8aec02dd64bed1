// What the TURN core reports about allocations and authentication, for the I/O layer to log.
// Control path only (Allocate, Refresh, expiry, failed authentication), never per packet.
// The report carries the client's address and username so that a sink can pseudonymise
// them; a sink must never write them as they are.
#pragma once

#include <string_view>

#include "hush/base/address.hpp"

namespace hush::turn {

enum class EventKind {
  allocation_created,
  allocation_expired,
  allocation_deleted,
  allocation_refused,
  auth_failed,
  source_blocked
};

struct Event {
  EventKind kind;
  std::string_view reason;  // refusal or failure reason, from a fixed set; empty otherwise
  const Endpoint& client;
  std::string_view username;  // empty when unknown
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& e) = 0;
};

}  // namespace hush::turn
