#include "server/webhook_crypto.h"

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

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
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

StatusOr<std::string> Sha256(std::string_view data) {
  std::string out(kSha256Bytes, '\0');
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &length,
                 EVP_sha256(), nullptr) != 1 ||
      length != kSha256Bytes) {
    return InternalError("SHA-256 failed");
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int high = HexValue(hex[i]);
    int low = HexValue(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>((high << 4) | low);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                               reinterpret_cast<const unsigned char*>(bytes.data()),
                               static_cast<int>(bytes.size()));
  out.resize(length < 0 ? 0 : static_cast<size_t>(length));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  // EVP_DecodeBlock skips whitespace, needs the padding and counts padding as zero bytes, so
  // the text is checked and padded here and the padding bytes are cut off afterwards.
  size_t padding = 0;
  while (padding < text.size() && padding < 2 && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  std::string_view body = text.substr(0, text.size() - padding);
  for (char c : body) {
    if (!IsBase64Char(c)) return std::nullopt;
  }
  size_t remainder = body.size() % 4;
  if (remainder == 1) return std::nullopt;
  size_t missing = remainder == 0 ? 0 : 4 - remainder;
  if (padding != 0 && padding != missing) return std::nullopt;
  std::string padded(body);
  padded.append(missing, '=');
  if (padded.empty()) return std::string();
  std::string out(padded.size() / 4 * 3, '\0');
  int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                               reinterpret_cast<const unsigned char*>(padded.data()),
                               static_cast<int>(padded.size()));
  if (length < 0 || static_cast<size_t>(length) != out.size()) return std::nullopt;
  out.resize(out.size() - missing);
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
