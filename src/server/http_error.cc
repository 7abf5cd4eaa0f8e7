#include "server/http_error.h"

namespace flowrun {

std::string HttpErrorCode(int http_status) {
  switch (http_status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 409:
      return "conflict";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    case 422:
      return "unprocessable_entity";
    case 429:
      return "too_many_requests";
    case 431:
      return "request_header_fields_too_large";
    case 503:
      return "unavailable";
    default:
      return http_status >= 500 ? "internal" : "error";
  }
}

namespace {

int HttpStatusOf(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kOutOfRange:
      return 413;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
    case StatusCode::kCancelled:
    case StatusCode::kDeadlineExceeded:
      return 503;
    default:
      return 500;
  }
}

HttpError Make(int status, std::string message) {
  return HttpError{status, HttpErrorCode(status), std::move(message)};
}

}  // namespace

HttpError HttpError::FromStatus(const Status& status) {
  HttpError error = Make(HttpStatusOf(status.code()), status.message());
  if (status.code() == StatusCode::kAlreadyExists) error.code = "already_exists";
  if (status.code() == StatusCode::kFailedPrecondition) error.code = "failed_precondition";
  return error;
}

HttpError HttpError::MethodNotAllowed(std::string message) { return Make(405, std::move(message)); }

HttpError HttpError::UnsupportedMediaType(std::string message) {
  return Make(415, std::move(message));
}

HttpError HttpError::Unprocessable(std::string message) { return Make(422, std::move(message)); }

Json HttpError::ToJson() const { return Json{{"error", {{"code", code}, {"message", message}}}}; }

std::string HttpError::Body() const {
  return ToJson().dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace flowrun
