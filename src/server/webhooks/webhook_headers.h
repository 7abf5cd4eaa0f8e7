// WebhookHeaders: the headers of an inbound webhook request, as received, for the signature
// verifiers. Names compare without regard to ASCII case; a name may be sent more than once.
//
// Thread-safety: a value; concurrent reads are safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace flowrun {

class WebhookHeaders {
 public:
  WebhookHeaders() = default;
  WebhookHeaders(std::initializer_list<std::pair<std::string, std::string>> headers);

  void Add(std::string name, std::string value);

  // Every value sent under `name`, in the order received.
  std::vector<std::string_view> GetAll(std::string_view name) const;

  // The one value of a header a scheme depends on. A header that is absent, repeated (which
  // value would count is ambiguous) or longer than `max_bytes` is kUnauthenticated, with a
  // message "<scheme> signature: ..." naming the header.
  [[nodiscard]] StatusOr<std::string_view> GetOne(std::string_view scheme, std::string_view name,
                                                  size_t max_bytes) const;

 private:
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace flowrun
