#include "common/base64.h"

#include <openssl/evp.h>

namespace flowrun {
namespace {

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

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

}  // namespace flowrun
