#include "store/lease_fence.h"

#include <string>

#include "common/log.h"

namespace flowrun::store {

bool LeaseHeld(const RequireLeaseOp& op, std::string_view owner, int64_t token) {
  return owner == op.owner && token == op.token;
}

Status CheckLease(const RequireLeaseOp& op, std::string_view owner, int64_t token) {
  if (LeaseHeld(op, owner, token)) return OkStatus();
  LogWarn("refused a write for a run whose lease this writer no longer holds",
          {{"run", op.run_id},
           {"writer", op.owner},
           {"writer_token", op.token},
           {"lease_owner", std::string(owner)},
           {"lease_token", token}});
  return AbortedError("run " + op.run_id + " is no longer leased by " + op.owner + " (token " +
                      std::to_string(op.token) + ")");
}

}  // namespace flowrun::store
