#include "server/webhooks/webhook_crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>

namespace flowrun {
namespace {

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

// Fetched once: fetching looks the algorithm up in the provider tables under a lock.
EVP_MAC* HmacAlgorithm() {
  static std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  return mac.get();
}

}  // namespace

StatusOr<std::string> HmacSha256(std::string_view key,
                                 std::initializer_list<std::string_view> parts) {
  if (key.empty()) return InternalError("HMAC-SHA256 needs a non-empty key");
  EVP_MAC* mac = HmacAlgorithm();
  if (mac == nullptr) return InternalError("OpenSSL has no HMAC implementation");
  std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_new(mac));
  if (ctx == nullptr) return InternalError("HMAC-SHA256: out of memory");
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                   params) != 1) {
    return InternalError("HMAC-SHA256: initialization failed");
  }
  for (std::string_view part : parts) {
    if (EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(part.data()),
                       part.size()) != 1) {
      return InternalError("HMAC-SHA256: update failed");
    }
  }
  std::string out(kSha256Bytes, '\0');
  size_t length = 0;
  if (EVP_MAC_final(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &length, out.size()) !=
          1 ||
      length != kSha256Bytes) {
    return InternalError("HMAC-SHA256: finalization failed");
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ConstantTimeEqualsAny(std::string_view expected, const std::vector<std::string>& candidates) {
  bool matched = false;
  // No early exit: the time taken does not tell which candidate matched.
  for (const std::string& candidate : candidates)
    matched |= ConstantTimeEquals(expected, candidate);
  return matched;
}

}  // namespace flowrun
