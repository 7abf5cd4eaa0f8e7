#include "common/sha256.h"

#include <openssl/sha.h>

#include "common/hex.h"

namespace flowrun {

std::string Sha256(std::string_view data) {
  std::string digest(kSha256Bytes, '\0');
  // The one-shot SHA256() has no failure path: it hashes with OpenSSL's built-in implementation.
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

}  // namespace flowrun
