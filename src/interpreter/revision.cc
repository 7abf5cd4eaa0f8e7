#include "interpreter/revision.h"

#include <openssl/sha.h>

#include <cstdio>

namespace flowrun {

std::string RevisionOf(const Json& document) {
  // nlohmann::json keeps object keys sorted, so dump() is canonical.
  std::string canonical = document.dump(-1, ' ', false, Json::error_handler_t::replace);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), digest);
  char hex[17];
  for (int i = 0; i < 8; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return std::string(hex, 16);
}

}  // namespace flowrun
