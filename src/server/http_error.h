// HttpError: how the HTTP API reports a failure. Every error response has a JSON body
//
//   {"error": {"code": "not_found", "message": "no run \"run_x\""}}
//
// with the HTTP status that fits. Errors from the runtime arrive as a Status and are mapped by
// code (FromStatus); the HTTP layer builds the ones that have no Status counterpart (405, 415,
// 422) directly.
//
// Status code to HTTP status:
//   kInvalidArgument 400 · kUnauthenticated 401 · kPermissionDenied 403 · kNotFound 404 ·
//   kAlreadyExists, kFailedPrecondition, kAborted 409 · kOutOfRange 413 (the request limits use it
//   for a body or an event beyond its size bound) · kResourceExhausted 429 · kUnavailable,
//   kCancelled, kDeadlineExceeded 503 · kInternal, kDataLoss and anything else 500.
//
// Thread-safety: values and pure functions.
#pragma once

#include <string>

#include "common/json.h"
#include "common/status.h"

namespace flowrun {

struct HttpError {
  int status = 500;
  std::string code;  // snake_case, stable for clients: "bad_request", "not_found", …
  std::string message;

  static HttpError FromStatus(const Status& status);
  static HttpError MethodNotAllowed(std::string message);
  static HttpError UnsupportedMediaType(std::string message);
  static HttpError Unprocessable(std::string message);

  // {"error": {"code": …, "message": …}}
  Json ToJson() const;
  // ToJson().dump() with invalid UTF-8 replaced, so an error never fails to serialize.
  std::string Body() const;
};

// The code used in the JSON body for an HTTP status ("bad_request" for 400, …).
std::string HttpErrorCode(int http_status);

}  // namespace flowrun
