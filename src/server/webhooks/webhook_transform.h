// WebhookTransform: maps a verified webhook request to the event it becomes, from a webhook's
// `transform` config (docs/webhooks.md):
//
//   transform:
//     name: '"stripe/" + body.type'     # the event name
//     data: '${{ body.data.object }}'   # the event data
//     id: body.id                       # the client id that deduplicates redeliveries
//
// Each field sees two variables: `body`, the request body parsed as JSON (the raw text when it is
// not JSON), and `headers`, an object of lower-case header names to values (repeated headers
// joined with ", ").
//
// How a field is read: a string holding `${{ … }}` is a template; otherwise a string that parses
// as an expression reading only `body` and `headers` (or a literal such as "\"x\"") is that
// expression; any other string is literal text (`name: shop/order` is the name "shop/order").
// `data` may also be any JSON value with templates inside.
//
// Without a transform, the event is {name: "webhook/<webhook name>", data: body} (a body that is
// not a JSON object is wrapped as {"body": …}) with no id.
//
// Thread-safety: immutable after Compile; Apply is safe from many threads.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/json.h"
#include "common/status.h"
#include "config/config.h"
#include "flow/expr/template.h"

namespace flowrun {

class WebhookTransform {
 public:
  // kInvalidArgument, naming the webhook and the field, when an expression does not parse.
  [[nodiscard]] static StatusOr<WebhookTransform> Compile(const std::string& webhook_name,
                                                          const WebhookConfig& config);

  // The event {name, data, id?} for a request. kInvalidArgument when a field fails to evaluate or
  // yields the wrong type (name: a non-empty string; data: an object or null; id: a string, a
  // number or null).
  [[nodiscard]] StatusOr<Json> Apply(const Json& body, const Json& headers) const;

  WebhookTransform(WebhookTransform&&) noexcept = default;
  WebhookTransform& operator=(WebhookTransform&&) noexcept = default;

 private:
  WebhookTransform() = default;

  std::string webhook_name_;
  // Null when there is no transform (the default mapping applies); the id template is null when
  // no id is configured.
  std::shared_ptr<const expr::ValueTemplate> name_;
  std::shared_ptr<const expr::ValueTemplate> data_;
  std::shared_ptr<const expr::ValueTemplate> id_;
};

}  // namespace flowrun
