#include "actions/http_action.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <iomanip>
#include <set>
#include <sstream>

#include "common/percent_encoding.h"

namespace flowrun {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kErrorBodyExcerpt = 200;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return Lower(a) == Lower(b); }

bool IsTemplate(const Json& value) {
  return value.is_string() && value.get_ref<const std::string&>().find("${{") != std::string::npos;
}

struct Url {
  HttpOrigin origin;
  std::string path_and_query;  // encoded, starting with '/'
};

// Percent-encodes every byte that may not appear raw in a request target, keeping existing
// escapes and reserved characters, so CR, LF, spaces and non-ASCII never reach the wire raw.
std::string EncodeTarget(std::string_view text) {
  return PercentEncode(text, ":/?#[]@!$&'()*+,;=%");
}

StatusOr<Url> ParseUrl(std::string_view text) {
  size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return InvalidArgumentError("url \"" + std::string(text) +
                                "\" is not absolute: expected http:// or https://");
  }
  Url url;
  url.origin.scheme = Lower(text.substr(0, scheme_end));
  if (url.origin.scheme != "http" && url.origin.scheme != "https") {
    return InvalidArgumentError("url scheme \"" + url.origin.scheme +
                                "\" is not allowed: only http and https");
  }
  std::string_view rest = text.substr(scheme_end + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgumentError(
        "url must not hold credentials (user@host); send them in an Authorization header");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgumentError("url has an unclosed [");
    url.origin.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidArgumentError("url has junk after the IPv6 host");
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    url.origin.host = Lower(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.origin.host.empty()) {
    return InvalidArgumentError("url \"" + std::string(text) + "\" names no host");
  }
  for (char c : url.origin.host) {
    if (std::iscntrl(static_cast<unsigned char>(c)) || c == ' ' || c == '%' || c == '\\') {
      return InvalidArgumentError("url host contains an invalid character");
    }
  }
  url.origin.port = url.origin.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(std::string(port_text)) == 0 || std::stoi(std::string(port_text)) > 65535) {
      return InvalidArgumentError("url port \"" + std::string(port_text) + "\" is not valid");
    }
    url.origin.port = std::stoi(std::string(port_text));
  }
  size_t fragment = target.find('#');
  if (fragment != std::string_view::npos) target = target.substr(0, fragment);
  url.path_and_query = EncodeTarget(target);
  if (url.path_and_query.empty() || url.path_and_query.front() != '/') {
    url.path_and_query.insert(0, "/");
  }
  return url;
}

// Resolves a Location header against the URL it came from.
std::string ResolveLocation(const Url& base, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  std::string origin = base.origin.Key();
  if (location.rfind("//", 0) == 0) return base.origin.scheme + ":" + location;
  if (!location.empty() && location.front() == '/') return origin + location;
  std::string path = base.path_and_query.substr(0, base.path_and_query.find('?'));
  return origin + path.substr(0, path.rfind('/') + 1) + location;
}

bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

Status CheckHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return InvalidArgumentError("header name is empty");
  for (unsigned char c : name) {
    if (!IsTokenChar(c)) {
      return InvalidArgumentError("header name \"" + std::string(name) +
                                  "\" contains a character not allowed in header names");
    }
  }
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return InvalidArgumentError("header \"" + std::string(name) +
                                  "\" contains CR, LF or NUL; refusing to send it");
    }
  }
  return OkStatus();
}

std::string ScalarText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

// Replaces bytes that are not valid UTF-8 with U+FFFD, so that any body can live in JSON.
std::string SanitizeUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = in[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool valid = len > 0 && i + len <= in.size();
    for (size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(in[i + k]) >> 6) == 2;
    }
    if (valid && len > 1) {
      // Reject overlong forms and surrogates.
      unsigned cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
      for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (in[i + k] & 0x3F);
      valid = (len == 2 && cp >= 0x80) ||
              (len == 3 && cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) ||
              (len == 4 && cp >= 0x10000 && cp <= 0x10FFFF);
    }
    if (valid) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// Accepted statuses: a list of [low, high] ranges.
using StatusRanges = std::vector<std::pair<int, int>>;

StatusOr<StatusRanges> ParseExpect(const Json& expect) {
  if (expect.is_null()) return StatusRanges{{200, 299}};
  Json list = expect.is_array() ? expect : Json::array({expect});
  StatusRanges ranges;
  for (const Json& item : list) {
    if (item.is_number_integer() && item.get<int>() >= 100 && item.get<int>() <= 599) {
      ranges.emplace_back(item.get<int>(), item.get<int>());
      continue;
    }
    if (item.is_string()) {
      std::string text = Lower(item.get<std::string>());
      if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && text.substr(1) == "xx") {
        int base = (text[0] - '0') * 100;
        ranges.emplace_back(base, base + 99);
        continue;
      }
      if (text.size() == 3 && text.find_first_not_of("0123456789") == std::string::npos) {
        int code = std::stoi(text);
        if (code >= 100 && code <= 599) {
          ranges.emplace_back(code, code);
          continue;
        }
      }
    }
    return InvalidArgumentError("expect holds " + item.dump() +
                                ": expected statuses such as 200 or classes such as \"2xx\"");
  }
  return ranges;
}

bool Accepted(const StatusRanges& ranges, int status) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [status](const auto& r) { return status >= r.first && status <= r.second; });
}

const std::set<std::string>& Methods() {
  static const std::set<std::string> methods = {"GET",   "HEAD",   "POST",   "PUT",
                                                "PATCH", "DELETE", "OPTIONS"};
  return methods;
}

// The arguments of one request, checked and ready to send.
struct HttpCall {
  std::string method = "GET";
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<Duration> timeout;
  StatusRanges expect;
};

bool HasHeader(const HttpCall& call, std::string_view name) {
  return std::any_of(call.headers.begin(), call.headers.end(),
                     [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
}

StatusOr<HttpCall> ParseCall(const Json& args) {
  if (!args.is_object()) return InvalidArgumentError("http arguments must be a map");
  HttpCall call;
  if (args.contains("method")) {
    if (!args["method"].is_string()) return InvalidArgumentError("method must be a string");
    call.method = Lower(args["method"].get<std::string>());
    std::transform(call.method.begin(), call.method.end(), call.method.begin(), ::toupper);
    if (!Methods().count(call.method)) {
      return InvalidArgumentError("method \"" + args["method"].get<std::string>() +
                                  "\" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    }
  }
  if (!args.contains("url") || !args["url"].is_string()) {
    return InvalidArgumentError("url is required and must be a string");
  }
  ASSIGN_OR_RETURN(call.url, ParseUrl(args["url"].get<std::string>()));
  if (args.contains("headers")) {
    if (!args["headers"].is_object()) return InvalidArgumentError("headers must be a map");
    for (const auto& [name, value] : args["headers"].items()) {
      if (value.is_structured()) {
        return InvalidArgumentError("header \"" + name + "\" must be a string");
      }
      std::string text = ScalarText(value);
      RETURN_IF_ERROR(CheckHeader(name, text));
      call.headers.emplace_back(name, std::move(text));
    }
  }
  if (args.contains("query")) {
    if (!args["query"].is_object()) return InvalidArgumentError("query must be a map");
    std::string query;
    for (const auto& [name, value] : args["query"].items()) {
      Json values = value.is_array() ? value : Json::array({value});
      for (const Json& v : values) {
        if (v.is_structured()) {
          return InvalidArgumentError("query \"" + name + "\" must be a scalar or a list of them");
        }
        if (!query.empty()) query += '&';
        query += PercentEncode(name) + "=" + PercentEncode(ScalarText(v));
      }
    }
    if (!query.empty()) {
      call.url.path_and_query +=
          (call.url.path_and_query.find('?') == std::string::npos ? "?" : "&") + query;
    }
  }
  int bodies = args.contains("json") + args.contains("body") + args.contains("form");
  if (bodies > 1) return InvalidArgumentError("give at most one of json, body and form");
  std::string content_type;
  if (args.contains("json")) {
    call.body = args["json"].dump();
    content_type = "application/json";
  } else if (args.contains("body")) {
    if (!args["body"].is_string()) {
      return InvalidArgumentError("body must be a string; use json for structured data");
    }
    call.body = args["body"].get<std::string>();
    content_type = "text/plain; charset=utf-8";
  } else if (args.contains("form")) {
    if (!args["form"].is_object()) return InvalidArgumentError("form must be a map");
    for (const auto& [name, value] : args["form"].items()) {
      if (value.is_structured())
        return InvalidArgumentError("form \"" + name + "\" must be a scalar");
      if (!call.body.empty()) call.body += '&';
      call.body += PercentEncode(name) + "=" + PercentEncode(ScalarText(value));
    }
    content_type = "application/x-www-form-urlencoded";
  }
  if (bodies == 1 && !HasHeader(call, "Content-Type")) {
    call.headers.emplace_back("Content-Type", content_type);
  }
  if (args.contains("timeout")) {
    if (!args["timeout"].is_string()) return InvalidArgumentError("timeout must be a duration");
    ASSIGN_OR_RETURN(Duration timeout, ParseDuration(args["timeout"].get<std::string>()));
    if (timeout.count() <= 0) return InvalidArgumentError("timeout must be longer than 0s");
    call.timeout = timeout;
  }
  ASSIGN_OR_RETURN(call.expect, ParseExpect(args.contains("expect") ? args["expect"] : Json()));
  return call;
}

bool HostMatches(std::string_view pattern, const std::string& host) {
  std::string p = Lower(pattern);
  if (p.rfind("*.", 0) == 0) {
    std::string suffix = p.substr(1);  // ".example.com"
    return host.size() > suffix.size() &&
           host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return p == host;
}

std::string HttplibErrorText(httplib::Error error) { return httplib::to_string(error); }

}  // namespace

bool HttpHostAllowed(const HttpConfig& limits, std::string_view host_view) {
  std::string host = Lower(host_view);
  for (const std::string& pattern : limits.deny_hosts) {
    if (HostMatches(pattern, host)) return false;
  }
  if (limits.allow_hosts.empty()) return true;
  return std::any_of(limits.allow_hosts.begin(), limits.allow_hosts.end(),
                     [&](const std::string& p) { return HostMatches(p, host); });
}

std::optional<long long> ParseRetryAfter(std::string_view value, TimePoint now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    if (value.size() > 9) return std::nullopt;
    return std::stoll(std::string(value)) * 1000;
  }
  std::tm tm = {};
  std::istringstream in{std::string(value)};
  in.imbue(std::locale::classic());
  in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S GMT");
  if (in.fail()) return std::nullopt;
  long long at_ms = static_cast<long long>(timegm(&tm)) * 1000;
  return std::max(0LL, at_ms - ToUnixMillis(now));
}

HttpAction::HttpAction(HttpActionOptions options)
    : options_(std::move(options)),
      pool_(HttpClientSettings{options_.ca_file, options_.keep_alive},
            options_.max_idle_per_origin) {}

Status HttpAction::CheckArguments(const Json& raw) const {
  if (!raw.is_object()) return InvalidArgumentError("http arguments must be a map");
  // Check what is literal now; templated values are checked again when the step runs.
  Json literal = Json::object();
  for (const auto& [key, value] : raw.items()) {
    if (key == "headers" && value.is_object()) {
      for (const auto& [name, header] : value.items()) {
        RETURN_IF_ERROR(CheckHeader(name, header.is_string() ? header.get<std::string>() : ""));
      }
      continue;
    }
    if (key == "url" && IsTemplate(value)) {
      std::string prefix = value.get<std::string>();
      prefix = prefix.substr(0, prefix.find("${{"));
      size_t scheme_end = prefix.find("://");
      if (scheme_end != std::string::npos) {
        std::string scheme = Lower(prefix.substr(0, scheme_end));
        if (scheme != "http" && scheme != "https") {
          return InvalidArgumentError("url scheme \"" + scheme +
                                      "\" is not allowed: only http and https");
        }
      }
      literal["url"] = "http://template.invalid/";
      continue;
    }
    if (IsTemplate(value) || (value.is_structured() && key != "expect")) {
      if (key == "json" || key == "body" || key == "form") literal[key] = nullptr;
      if (key == "query" || key == "form") literal[key] = Json::object();
      continue;
    }
    literal[key] = value;
  }
  if (literal.contains("form") && literal["form"].is_null()) literal["form"] = Json::object();
  if (!literal.contains("url")) return InvalidArgumentError("url is required");
  if (literal.contains("body") && literal["body"].is_null()) literal["body"] = "";
  StatusOr<HttpCall> call = ParseCall(literal);
  if (!call.ok()) return call.status();
  if (call->url.origin.host != "template.invalid" &&
      !HttpHostAllowed(options_.limits, call->url.origin.host)) {
    return PermissionDeniedError("host \"" + call->url.origin.host +
                                 "\" is not allowed by the http allow_hosts/deny_hosts config");
  }
  return OkStatus();
}

void HttpAction::Start(ActionRequest request, ActionCallback done) {
  StatusOr<Json> result = ExecuteBlocking(request);
  done(std::move(request), std::move(result));
}

StatusOr<Json> HttpAction::ExecuteBlocking(const ActionRequest& request) {
  StatusOr<Json> result = ExecuteUnredacted(request);
  if (result.ok() || options_.redactor == nullptr) return result;
  return options_.redactor->RedactStatus(result.status());
}

StatusOr<Json> HttpAction::ExecuteUnredacted(const ActionRequest& request) {
  ASSIGN_OR_RETURN(HttpCall call, ParseCall(request.arguments));
  if (!HasHeader(call, "Idempotency-Key") && !request.idempotency_key.empty()) {
    call.headers.emplace_back("Idempotency-Key", request.idempotency_key);
  }
  if (!HasHeader(call, "User-Agent")) call.headers.emplace_back("User-Agent", "flowrun");

  const Clock& clock = options_.clock ? *options_.clock : system_clock_;
  Duration timeout = call.timeout.value_or(options_.limits.timeout);
  bool capped_by_deadline = false;
  if (request.deadline != TimePoint{}) {
    Duration remaining = std::chrono::duration_cast<Duration>(request.deadline - clock.Now());
    if (remaining.count() <= 0) return DeadlineExceededError("the step's deadline has passed");
    if (remaining < timeout) {
      timeout = remaining;
      capped_by_deadline = true;
    }
  }
  const SteadyClock::time_point give_up = SteadyClock::now() + timeout;
  const long long max_bytes = options_.limits.max_response_bytes;

  Url url = call.url;
  std::string method = call.method;
  std::string body = call.body;
  for (int hop = 0;; ++hop) {
    const std::string where = method + " " + url.origin.Key() + url.path_and_query;
    if (!HttpHostAllowed(options_.limits, url.origin.host)) {
      return PermissionDeniedError("host \"" + url.origin.host +
                                   "\" is not allowed by the http allow_hosts/deny_hosts config");
    }
    auto left = std::chrono::duration_cast<milliseconds>(give_up - SteadyClock::now());
    if (left.count() <= 0) {
      return DeadlineExceededError(where + ": no response within " + FormatDuration(timeout));
    }
    std::unique_ptr<httplib::Client> client = pool_.Acquire(url.origin);
    client->set_connection_timeout(std::min<milliseconds>(left, options_.limits.connect_timeout));
    client->set_read_timeout(left);
    client->set_write_timeout(left);

    httplib::Request req;
    req.method = method;
    req.path = url.path_and_query;
    for (const auto& [name, value] : call.headers) req.headers.emplace(name, value);
    req.body = body;
    std::string received;
    bool too_large = false;
    bool too_slow = false;
    req.content_receiver = [&](const char* data, size_t length, uint64_t, uint64_t) {
      if (static_cast<long long>(received.size() + length) > max_bytes) {
        too_large = true;
        return false;
      }
      if (SteadyClock::now() > give_up) {
        too_slow = true;
        return false;
      }
      received.append(data, length);
      return true;
    };
    SteadyClock::time_point sent_at = SteadyClock::now();
    httplib::Result result = client->send(req);
    if (!result) {
      httplib::Error error = result.error();
      auto elapsed = std::chrono::duration_cast<milliseconds>(SteadyClock::now() - sent_at);
      if (too_large) {
        return FailedPreconditionError(where + ": response body is larger than the limit of " +
                                       std::to_string(max_bytes) +
                                       " bytes (http.max_response_bytes)");
      }
      std::string limit = capped_by_deadline ? "the step's deadline" : FormatDuration(timeout);
      if (too_slow || error == httplib::Error::ConnectionTimeout ||
          (error == httplib::Error::Read && elapsed + milliseconds(20) >= left)) {
        return DeadlineExceededError(
            where + ": " +
            (error == httplib::Error::ConnectionTimeout
                 ? "could not connect within " +
                       FormatDuration(std::min<Duration>(left, options_.limits.connect_timeout))
                 : "no response within " + limit));
      }
      switch (error) {
        case httplib::Error::SSLServerVerification:
          return FailedPreconditionError(where +
                                         ": the server's TLS certificate could not be "
                                         "verified for host " +
                                         url.origin.host);
        case httplib::Error::SSLLoadingCerts:
          return FailedPreconditionError(where + ": could not load the CA certificates");
        case httplib::Error::Connection:
          return UnavailableError(where + ": could not connect to " + url.origin.host + ":" +
                                  std::to_string(url.origin.port));
        default:
          return UnavailableError(where + ": " + HttplibErrorText(error));
      }
    }
    const httplib::Response& response = *result;
    int status = response.status;
    if (status >= 300 && status < 400 && status != 304 && response.has_header("Location")) {
      pool_.Release(url.origin, std::move(client));
      if (hop >= options_.max_redirects) {
        return FailedPreconditionError(
            where + ": more than " + std::to_string(options_.max_redirects) +
            " redirects; the last pointed to " + response.get_header_value("Location"));
      }
      std::string location = ResolveLocation(url, response.get_header_value("Location"));
      ASSIGN_OR_RETURN(Url next, ParseUrl(location));
      if (url.origin.scheme == "https" && next.origin.scheme == "http") {
        return FailedPreconditionError(where + ": refusing a redirect from https to " + location);
      }
      if (status == 303 || ((status == 301 || status == 302) && method == "POST")) {
        method = method == "HEAD" ? "HEAD" : "GET";
        body.clear();
        std::erase_if(call.headers,
                      [](const auto& h) { return EqualsIgnoreCase(h.first, "Content-Type"); });
      }
      if (next.origin.Key() != url.origin.Key()) {
        std::erase_if(call.headers, [](const auto& h) {
          return EqualsIgnoreCase(h.first, "Authorization") || EqualsIgnoreCase(h.first, "Cookie");
        });
      }
      url = std::move(next);
      continue;
    }
    pool_.Release(url.origin, std::move(client));

    Json headers = Json::object();
    for (const auto& [name, value] : response.headers) {
      std::string key = Lower(name);
      std::string text = SanitizeUtf8(value);
      if (headers.contains(key)) {
        headers[key] = headers[key].get<std::string>() + ", " + text;
      } else {
        headers[key] = text;
      }
    }
    Json parsed_body;
    std::string content_type = Lower(response.get_header_value("Content-Type"));
    bool is_json = content_type.find("application/json") != std::string::npos ||
                   content_type.find("+json") != std::string::npos;
    if (is_json && !received.empty()) {
      parsed_body = Json::parse(received, nullptr, /*allow_exceptions=*/false);
      if (parsed_body.is_discarded()) parsed_body = SanitizeUtf8(received);
    } else {
      parsed_body = SanitizeUtf8(received);
    }
    if (Accepted(call.expect, status)) {
      return Json{
          {"status", status}, {"headers", std::move(headers)}, {"body", std::move(parsed_body)}};
    }
    std::string excerpt = SanitizeUtf8(received.substr(0, kErrorBodyExcerpt));
    std::string message = where + ": unexpected status " + std::to_string(status) +
                          (excerpt.empty() ? "" : ": " + excerpt);
    Status error = status == 429   ? ResourceExhaustedError(message)
                   : status >= 500 ? UnavailableError(message)
                                   : FailedPreconditionError(message);
    if (error.IsRetryable() && response.has_header("Retry-After")) {
      if (auto delay = ParseRetryAfter(response.get_header_value("Retry-After"), clock.Now())) {
        error.set_retry_after_ms(*delay);
      }
    }
    return error;
  }
}

}  // namespace flowrun
