#include "actions/http/http_action.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <iterator>
#include <set>
#include <sstream>

#include "actions/http/http_expect.h"
#include "common/ascii_case.h"
#include "common/percent_encoding.h"
#include "common/thread_annotations.h"

namespace flowrun {
namespace {

struct HttpOrigin {
  std::string scheme;  // http or https
  std::string host;    // as in the URL; IPv6 literals without brackets
  int port = 0;

  std::string Key() const {
    std::string bracketed = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return scheme + "://" + bracketed + ":" + std::to_string(port);
  }
};

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kErrorBodyExcerpt = 200;

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
  url.origin.scheme = AsciiLower(text.substr(0, scheme_end));
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
    url.origin.host = AsciiLower(authority.substr(0, colon));
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
                     [&](const auto& h) { return EqualsIgnoringAsciiCase(h.first, name); });
}

StatusOr<HttpCall> ParseCall(const Json& args) {
  if (!args.is_object()) return InvalidArgumentError("http arguments must be a map");
  HttpCall call;
  if (args.contains("method")) {
    if (!args["method"].is_string()) return InvalidArgumentError("method must be a string");
    call.method = AsciiLower(args["method"].get<std::string>());
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
  std::string p = AsciiLower(pattern);
  if (p.rfind("*.", 0) == 0) {
    std::string suffix = p.substr(1);  // ".example.com"
    return host.size() > suffix.size() &&
           host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  }
  return p == host;
}

constexpr size_t kMaxIdleHandles = 1024;

// The errors a hop ends with, the same whichever client carried it. `where` is "METHOD url".
Status StoppedError(const std::string& where) {
  return UnavailableError(where + ": not finished: the service is shutting down");
}

Status TooLargeError(const std::string& where, long long max_bytes) {
  return FailedPreconditionError(where + ": response body is larger than the limit of " +
                                 std::to_string(max_bytes) + " bytes (http.max_response_bytes)");
}

Status ConnectTimeoutError(const std::string& where, Duration connect_budget) {
  return DeadlineExceededError(where + ": could not connect within " +
                               FormatDuration(connect_budget));
}

// The attempt's whole time: the step's timeout, or its deadline when that came first.
std::string AttemptBudget(bool capped_by_deadline, Duration timeout) {
  return capped_by_deadline ? "the step's deadline" : FormatDuration(timeout);
}

// `detail` (what the system said) is left out when empty.
Status ConnectError(const std::string& where, const HttpOrigin& origin, std::string_view detail) {
  return UnavailableError(where + ": could not connect to " + origin.host + ":" +
                          std::to_string(origin.port) +
                          (detail.empty() ? "" : ": " + std::string(detail)));
}

// The proxy variables libcurl reads for an http:// URL (it ignores HTTP_PROXY, as CGI servers may
// set that one from a request header).
constexpr const char* kHttpProxyVariables[] = {"http_proxy", "all_proxy", "ALL_PROXY"};

// What one hop received: the last response's headers (names lower-cased) and its body, up to
// max_bytes.
struct Response {
  long long max_bytes = 0;
  bool too_large = false;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  const std::string* Header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return &value;
    }
    return nullptr;
  }
};

size_t ReadBody(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<Response*>(user);
  size_t n = size * count;
  if (static_cast<long long>(response->body.size() + n) > response->max_bytes) {
    response->too_large = true;
    return 0;  // libcurl ends the transfer with CURLE_WRITE_ERROR
  }
  response->body.append(data, n);
  return n;
}

// libcurl hands over each header line of each response (a 100 Continue or another interim
// response first, then the final one), CRLF included.
size_t ReadHeader(char* data, size_t size, size_t count, void* user) {
  auto* response = static_cast<Response*>(user);
  size_t n = size * count;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    response->headers.clear();  // a new response starts
    return n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  response->headers.emplace_back(AsciiLower(line.substr(0, colon)), std::string(value));
  return n;
}

}  // namespace

bool HttpHostAllowed(const HttpConfig& limits, std::string_view host_view) {
  std::string host = AsciiLower(host_view);
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

// One attempt in flight: its request, the call parsed from it, and the state of the current hop.
// Owned by whoever holds it: Start, then the loop (as a raw pointer in the transfer's callback),
// then FinishHop.
struct HttpAction::Attempt {
  ActionRequest request;
  ActionCallback done;
  HttpCall call;
  Url url;
  std::string method;
  std::string body;
  Duration timeout{};               // the attempt's whole budget
  bool capped_by_deadline = false;  // the budget is the step's deadline, not the timeout
  SteadyTime give_up;
  int hop = 0;
  Duration connect_budget{};  // this hop's connect timeout
  std::string target;         // this hop's absolute URL
  std::string where;          // "GET http://host:port/path", for messages
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  Response response;
  char error[CURL_ERROR_SIZE] = {0};

  ~Attempt() { curl_slist_free_all(headers); }
};

HttpAction::HttpAction(HttpActionOptions options) : options_(std::move(options)) {
  loop_ = options_.loop;
  if (loop_ == nullptr) {
    OutboundLoopOptions loop_options;
    loop_options.max_connections_per_host = options_.limits.max_connections_per_host;
    own_loop_ = std::make_unique<OutboundLoop>(loop_options);
    (void)own_loop_->Start();
    loop_ = own_loop_.get();
  }
  // libcurl reads these for http:// URLs; with one set, every request goes through libcurl.
  const bool proxied = std::any_of(std::begin(kHttpProxyVariables), std::end(kHttpProxyVariables),
                                   [](const char* variable) {
                                     const char* value = std::getenv(variable);
                                     return value != nullptr && *value != 0;
                                   });
  if (!proxied) {
    PlainHttpClientOptions plain;
    plain.max_connections_per_host =
        static_cast<size_t>(std::max(1, options_.limits.max_connections_per_host));
    plain.max_total_connections = static_cast<size_t>(std::max(0, options_.limits.max_connections));
    plain.keep_alive = options_.keep_alive;
    plain_ = std::make_unique<PlainHttpClient>(*loop_, plain);
  }
}

HttpAction::~HttpAction() {
  plain_.reset();     // its shutdown is queued on the loop ...
  own_loop_.reset();  // ... which ends (and frees) the attempts still in flight on it
  for (CURL* easy : idle_handles_) curl_easy_cleanup(easy);
}

CURL* HttpAction::TakeHandle() {
  {
    MutexLock lock(handles_mu_);
    if (!idle_handles_.empty()) {
      CURL* easy = idle_handles_.back();
      idle_handles_.pop_back();
      return easy;
    }
  }
  return curl_easy_init();
}

void HttpAction::KeepHandle(CURL* easy) {
  curl_easy_reset(easy);
  {
    MutexLock lock(handles_mu_);
    if (idle_handles_.size() < kMaxIdleHandles) {
      idle_handles_.push_back(easy);
      return;
    }
  }
  curl_easy_cleanup(easy);
}

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
        std::string scheme = AsciiLower(prefix.substr(0, scheme_end));
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
  auto attempt = std::make_unique<Attempt>();
  attempt->request = std::move(request);
  attempt->done = std::move(done);
  StatusOr<HttpCall> call = ParseCall(attempt->request.arguments);
  if (!call.ok()) return Finish(std::move(attempt), call.status());
  Attempt& a = *attempt;
  a.call = *std::move(call);
  if (!HasHeader(a.call, "Idempotency-Key") && !a.request.idempotency_key.empty()) {
    a.call.headers.emplace_back("Idempotency-Key", a.request.idempotency_key);
  }
  if (!HasHeader(a.call, "User-Agent")) a.call.headers.emplace_back("User-Agent", "flowrun");

  const Clock& clock = options_.clock ? *options_.clock : system_clock_;
  a.timeout = a.call.timeout.value_or(options_.limits.timeout);
  if (a.request.deadline != TimePoint{}) {
    Duration remaining = std::chrono::duration_cast<Duration>(a.request.deadline - clock.Now());
    if (remaining.count() <= 0) {
      return Finish(std::move(attempt), DeadlineExceededError("the step's deadline has passed"));
    }
    if (remaining < a.timeout) {
      a.timeout = remaining;
      a.capped_by_deadline = true;
    }
  }
  a.give_up = SteadyClock::now() + a.timeout;
  a.url = a.call.url;
  a.method = a.call.method;
  a.body = a.call.body;
  StartHop(std::move(attempt));
}

void HttpAction::StartHop(std::unique_ptr<Attempt> attempt) {
  Attempt& a = *attempt;
  a.where = a.method + " " + a.url.origin.Key() + a.url.path_and_query;
  if (!HttpHostAllowed(options_.limits, a.url.origin.host)) {
    return Finish(std::move(attempt),
                  PermissionDeniedError("host \"" + a.url.origin.host +
                                        "\" is not allowed by the http allow_hosts/deny_hosts "
                                        "config"));
  }
  auto left = std::chrono::duration_cast<milliseconds>(a.give_up - SteadyClock::now());
  if (left.count() <= 0) {
    return Finish(std::move(attempt), DeadlineExceededError(a.where + ": no response within " +
                                                            FormatDuration(a.timeout)));
  }
  a.response = Response{};
  a.response.max_bytes = options_.limits.max_response_bytes;
  a.connect_budget = std::min<Duration>(left, options_.limits.connect_timeout);
  if (plain_ != nullptr && a.url.origin.scheme == "http") return StartPlainHop(std::move(attempt));

  if (a.easy == nullptr) a.easy = TakeHandle();
  if (a.easy == nullptr) {
    return Finish(std::move(attempt), InternalError("could not create a libcurl handle"));
  }
  CURL* e = a.easy;
  if (a.hop > 0) curl_easy_reset(e);
  curl_slist_free_all(a.headers);
  a.headers = nullptr;
  a.error[0] = 0;

  const HttpOrigin& origin = a.url.origin;
  a.target = origin.scheme + "://" +
             (origin.host.find(':') != std::string::npos ? "[" + origin.host + "]" : origin.host) +
             ":" + std::to_string(origin.port) + a.url.path_and_query;
  curl_easy_setopt(e, CURLOPT_URL, a.target.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::max<long long>(
                       1, std::chrono::duration_cast<milliseconds>(a.connect_budget).count())));
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a.error);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ReadBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &a.response);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &a.response);
  if (!options_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.keep_alive) {
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  }
  if (a.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (a.method != "GET" || !a.body.empty()) {
    if (a.method != "POST") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, a.method.c_str());
    if (!a.body.empty() || a.method == "POST" || a.method == "PUT" || a.method == "PATCH") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, a.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(a.body.size()));
    }
  }
  bool has_content_type = false;
  std::string line;
  for (const auto& [name, value] : a.call.headers) {
    has_content_type = has_content_type || EqualsIgnoringAsciiCase(name, "Content-Type");
    line.assign(name);
    if (value.empty()) {
      line += ';';  // libcurl's way of sending a header with an empty value
    } else {
      line += ": ";
      line += value;
    }
    a.headers = curl_slist_append(a.headers, line.c_str());
  }
  // libcurl would add a form Content-Type to a body-less POST, and Expect: 100-continue (a round
  // trip) to large bodies.
  if (!has_content_type) a.headers = curl_slist_append(a.headers, "Content-Type:");
  a.headers = curl_slist_append(a.headers, "Expect:");
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, a.headers);

  std::string origin_key = origin.Key();
  Attempt* raw = attempt.release();
  loop_->AddTransfer(
      e,
      [this, raw](CURLcode code) {
        std::unique_ptr<Attempt> owned(raw);
        std::optional<StatusOr<Json>> result = Judge(*owned, code);
        if (result) {
          Finish(std::move(owned), *std::move(result));
        } else {
          StartHop(std::move(owned));
        }
      },
      std::move(origin_key));
}

void HttpAction::StartPlainHop(std::unique_ptr<Attempt> attempt) {
  Attempt& a = *attempt;
  PlainHttpRequest request;
  request.host = a.url.origin.host;
  request.port = a.url.origin.port;
  request.method = a.method;
  request.target = a.url.path_and_query;
  request.headers = a.call.headers;
  request.body = a.body;
  const SteadyTime now = SteadyClock::now();
  request.connect_until = now + a.connect_budget;
  request.until = a.give_up;
  request.max_body_bytes = a.response.max_bytes;
  Attempt* raw = attempt.release();
  plain_->Send(std::move(request), [this, raw](PlainHttpResult result) {
    std::unique_ptr<Attempt> owned(raw);
    std::optional<StatusOr<Json>> judged = JudgePlain(*owned, std::move(result));
    if (judged) {
      Finish(std::move(owned), *std::move(judged));
    } else {
      StartHop(std::move(owned));
    }
  });
}

void HttpAction::Finish(std::unique_ptr<Attempt> attempt, StatusOr<Json> result) {
  if (attempt->easy != nullptr) {
    KeepHandle(attempt->easy);
    attempt->easy = nullptr;
  }
  if (!result.ok() && options_.redactor != nullptr) {
    result = options_.redactor->RedactStatus(result.status());
  }
  ActionCallback done = std::move(attempt->done);
  ActionRequest request = std::move(attempt->request);
  attempt.reset();
  done(std::move(request), std::move(result));
}

std::optional<StatusOr<Json>> HttpAction::Judge(Attempt& a, CURLcode code) {
  const std::string& where = a.where;
  const HttpOrigin& origin = a.url.origin;
  Response& response = a.response;
  if (code != CURLE_OK) {
    if (code == OutboundLoop::kStopped) return StoppedError(where);
    if (response.too_large) return TooLargeError(where, response.max_bytes);
    std::string detail = a.error[0] ? a.error : curl_easy_strerror(code);
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT: {
        // Zero until the request was about to go out on a connection (new or reused).
        curl_off_t ready_after = 0;
        curl_easy_getinfo(a.easy, CURLINFO_PRETRANSFER_TIME_T, &ready_after);
        if (ready_after == 0) return ConnectTimeoutError(where, a.connect_budget);
        return DeadlineExceededError(where + ": no response within " +
                                     AttemptBudget(a.capped_by_deadline, a.timeout));
      }
      case CURLE_COULDNT_CONNECT:
        return ConnectError(where, origin, "");
      case CURLE_COULDNT_RESOLVE_HOST:
      case CURLE_COULDNT_RESOLVE_PROXY:
        return UnavailableError(where + ": could not resolve " + detail);
      case CURLE_PEER_FAILED_VERIFICATION:
        return FailedPreconditionError(where +
                                       ": the server's TLS certificate could not be verified "
                                       "for host " +
                                       origin.host + ": " + detail);
      case CURLE_SSL_CACERT_BADFILE:
        return FailedPreconditionError(where + ": could not load the CA certificates: " + detail);
      default:
        return UnavailableError(where + ": " + detail);
    }
  }
  long status = 0;
  curl_easy_getinfo(a.easy, CURLINFO_RESPONSE_CODE, &status);
  return JudgeResponse(a, status);
}

std::optional<StatusOr<Json>> HttpAction::JudgePlain(Attempt& a, PlainHttpResult result) {
  const std::string& where = a.where;
  const HttpOrigin& origin = a.url.origin;
  if (!result.error.ok()) {
    if (result.stopped) return StoppedError(where);
    if (result.too_large) return TooLargeError(where, a.response.max_bytes);
    if (result.error.code() == StatusCode::kDeadlineExceeded) {
      const std::string budget = AttemptBudget(a.capped_by_deadline, a.timeout);
      if (result.waited_for_connection) {
        return DeadlineExceededError(where + ": no free connection to " + origin.host + ":" +
                                     std::to_string(origin.port) + " within " + budget +
                                     " (http.max_connections_per_host, http.max_connections)");
      }
      if (!result.connected) return ConnectTimeoutError(where, a.connect_budget);
      return DeadlineExceededError(where + ": no response within " + budget);
    }
    if (!result.connected) return ConnectError(where, origin, result.error.message());
    return UnavailableError(where + ": " + result.error.message());
  }
  a.response.headers = std::move(result.headers);
  a.response.body = std::move(result.body);
  return JudgeResponse(a, result.status);
}

std::optional<StatusOr<Json>> HttpAction::JudgeResponse(Attempt& a, long status) {
  const std::string& where = a.where;
  const HttpOrigin& origin = a.url.origin;
  Response& response = a.response;
  const std::string* location = response.Header("location");
  if (status >= 300 && status < 400 && status != 304 && location != nullptr) {
    if (a.hop >= options_.max_redirects) {
      return FailedPreconditionError(where + ": more than " +
                                     std::to_string(options_.max_redirects) +
                                     " redirects; the last pointed to " + *location);
    }
    std::string resolved = ResolveLocation(a.url, *location);
    StatusOr<Url> next = ParseUrl(resolved);
    if (!next.ok()) return next.status();
    if (origin.scheme == "https" && next->origin.scheme == "http") {
      return FailedPreconditionError(where + ": refusing a redirect from https to " + resolved);
    }
    if (status == 303 || ((status == 301 || status == 302) && a.method == "POST")) {
      a.method = a.method == "HEAD" ? "HEAD" : "GET";
      a.body.clear();
      std::erase_if(a.call.headers,
                    [](const auto& h) { return EqualsIgnoringAsciiCase(h.first, "Content-Type"); });
    }
    if (next->origin.Key() != origin.Key()) {
      std::erase_if(a.call.headers, [](const auto& h) {
        return EqualsIgnoringAsciiCase(h.first, "Authorization") ||
               EqualsIgnoringAsciiCase(h.first, "Cookie");
      });
    }
    a.url = *std::move(next);
    ++a.hop;
    return std::nullopt;
  }

  Json headers = Json::object();
  for (auto& [key, value] : response.headers) {
    std::string text = SanitizeUtf8(value);
    auto it = headers.find(key);
    if (it != headers.end()) {
      *it = it->get<std::string>() + ", " + text;
    } else {
      headers[key] = std::move(text);
    }
  }
  const std::string& received = response.body;
  Json parsed_body;
  const std::string* type = response.Header("content-type");
  std::string content_type = type ? AsciiLower(*type) : std::string();
  bool is_json = content_type.find("application/json") != std::string::npos ||
                 content_type.find("+json") != std::string::npos;
  if (is_json && !received.empty()) {
    parsed_body = Json::parse(received, nullptr, /*allow_exceptions=*/false);
    if (parsed_body.is_discarded()) parsed_body = SanitizeUtf8(received);
  } else {
    parsed_body = SanitizeUtf8(received);
  }
  if (Accepted(a.call.expect, static_cast<int>(status))) {
    return Json{
        {"status", status}, {"headers", std::move(headers)}, {"body", std::move(parsed_body)}};
  }
  std::string excerpt = SanitizeUtf8(received.substr(0, kErrorBodyExcerpt));
  std::string message = where + ": unexpected status " + std::to_string(status) +
                        (excerpt.empty() ? "" : ": " + excerpt);
  Status error = UnexpectedStatusError(static_cast<int>(status), std::move(message));
  const std::string* retry_after = response.Header("retry-after");
  if (error.IsRetryable() && retry_after != nullptr) {
    const Clock& clock = options_.clock ? *options_.clock : system_clock_;
    if (auto delay = ParseRetryAfter(*retry_after, clock.Now())) error.set_retry_after_ms(*delay);
  }
  return StatusOr<Json>(std::move(error));
}

}  // namespace flowrun
