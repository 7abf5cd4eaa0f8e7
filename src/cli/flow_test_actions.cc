#include "cli/flow_test_actions.h"

#include <algorithm>
#include <cctype>

#include "actions/http/http_expect.h"
#include "common/percent_encoding.h"

namespace flowrun::cli {
namespace {

std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return text;
}

std::string ScalarText(const Json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

// The URL with the step's `query` appended, as the real action would send it.
std::string UrlWithQuery(const Json& args) {
  std::string url = args.value("url", "");
  if (!args.contains("query") || !args["query"].is_object() || args["query"].empty()) return url;
  std::string query;
  for (const auto& [name, value] : args["query"].items()) {
    Json values = value.is_array() ? value : Json::array({value});
    for (const Json& v : values) {
      if (v.is_null()) continue;
      query +=
          (query.empty() ? "" : "&") + PercentEncode(name) + "=" + PercentEncode(ScalarText(v));
    }
  }
  if (query.empty()) return url;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

// An attempt's arguments as the test sees them: always lists for the recipients.
Json RecipientList(const Json& value) {
  if (value.is_null()) return Json::array();
  return value.is_array() ? value : Json::array({value});
}

}  // namespace

void TestRecorder::AddRequest(Json request) {
  MutexLock lock(mu_);
  requests_.push_back(std::move(request));
}
void TestRecorder::AddEmail(Json email) {
  MutexLock lock(mu_);
  emails_.push_back(std::move(email));
}
void TestRecorder::AddUnmatched(std::string description) {
  MutexLock lock(mu_);
  unmatched_.push_back(std::move(description));
}
std::vector<Json> TestRecorder::requests() const {
  MutexLock lock(mu_);
  return requests_;
}
std::vector<Json> TestRecorder::emails() const {
  MutexLock lock(mu_);
  return emails_;
}
std::vector<std::string> TestRecorder::unmatched() const {
  MutexLock lock(mu_);
  return unmatched_;
}

std::string CollapseWhitespace(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

MockHttpAction::MockHttpAction(std::vector<HttpMock> mocks, SimulatedClock& clock,
                               TestRecorder& recorder)
    : mocks_(std::move(mocks)), clock_(clock), recorder_(recorder), used_(mocks_.size(), 0) {}

void MockHttpAction::Start(ActionRequest request, ActionCallback done) {
  StatusOr<Json> result = Answer(request);
  done(std::move(request), std::move(result));
}

StatusOr<Json> MockHttpAction::Answer(const ActionRequest& request) {
  const Json& args = request.arguments;
  const std::string method = Upper(args.value("method", "GET"));
  const std::string base_url = args.value("url", "");
  const std::string url = UrlWithQuery(args);
  Json recorded = {{"method", method}, {"url", url}, {"step", request.step_key}};
  for (const char* key : {"headers", "json", "body", "form", "query"}) {
    if (args.contains(key)) recorded[key] = args[key];
  }
  recorder_.AddRequest(recorded);

  const HttpMock* mock = nullptr;
  {
    MutexLock lock(mu_);
    for (size_t i = 0; i < mocks_.size(); ++i) {
      const HttpMock& m = mocks_[i];
      if (m.times && used_[i] >= *m.times) continue;
      if (!m.method.empty() && m.method != method) continue;
      if (!GlobMatches(m.url, url) && !GlobMatches(m.url, base_url)) continue;
      ++used_[i];
      mock = &m;
      break;
    }
  }
  const std::string where = method + " " + url;
  if (mock == nullptr) {
    recorder_.AddUnmatched(where + " (step " + request.step_key + ")");
    return FailedPreconditionError(where + ": no http mock matches this request");
  }
  if (mock->delay > Duration{0}) {
    const TimePoint answered = clock_.Now() + mock->delay;
    if (answered > request.deadline) {
      clock_.AdvanceTo(request.deadline);
      return DeadlineExceededError(where + ": the mock's delay of " + FormatDuration(mock->delay) +
                                   " is past the attempt's timeout");
    }
    clock_.AdvanceTo(answered);
  }
  if (mock->error) return UnavailableError(where + ": " + *mock->error);

  ASSIGN_OR_RETURN(StatusRanges expect,
                   ParseExpect(args.contains("expect") ? args["expect"] : Json()));
  Json headers = Json::object();
  for (const auto& [name, value] : mock->headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    headers[lower] = value;
  }
  Json body = "";
  if (!mock->json.is_null()) {
    body = mock->json;
    if (!headers.contains("content-type")) headers["content-type"] = "application/json";
  } else if (mock->body) {
    body = *mock->body;
    const std::string type = headers.value("content-type", "");
    if (type.find("json") != std::string::npos) {
      Json parsed = Json::parse(*mock->body, nullptr, /*allow_exceptions=*/false);
      if (!parsed.is_discarded()) body = std::move(parsed);
    }
  }
  if (Accepted(expect, mock->status)) {
    return Json{
        {"status", mock->status}, {"headers", std::move(headers)}, {"body", std::move(body)}};
  }
  std::string excerpt = body.is_string() ? body.get<std::string>() : body.dump();
  return UnexpectedStatusError(mock->status,
                               where + ": unexpected status " + std::to_string(mock->status) +
                                   (excerpt.empty() ? "" : ": " + excerpt.substr(0, 200)));
}

void CapturingEmailAction::Start(ActionRequest request, ActionCallback done) {
  const Json& args = request.arguments;
  if (!args.contains("to") || RecipientList(args["to"]).empty()) {
    done(std::move(request), InvalidArgumentError("email: `to` is empty"));
    return;
  }
  Json email = args;
  for (const char* key : {"to", "cc", "bcc"}) {
    if (email.contains(key)) email[key] = RecipientList(email[key]);
  }
  email["step"] = request.step_key;
  recorder_.AddEmail(std::move(email));
  std::string id = request.idempotency_key;
  std::replace(id.begin(), id.end(), '/', '.');
  Json output = {{"message_id", "<" + id + "@flowrun.test>"}};
  done(std::move(request), std::move(output));
}

CannedDbAction::CannedDbAction(std::vector<DbMock> mocks, std::unique_ptr<DbAction> real)
    : mocks_(std::move(mocks)), real_(std::move(real)), used_(mocks_.size(), 0) {}

void CannedDbAction::Start(ActionRequest request, ActionCallback done) {
  const std::string database = request.arguments.value("database", "");
  const std::string sql = CollapseWhitespace(request.arguments.value("sql", ""));
  const DbMock* mock = nullptr;
  {
    MutexLock lock(mu_);
    for (size_t i = 0; i < mocks_.size(); ++i) {
      const DbMock& m = mocks_[i];
      if (m.times && used_[i] >= *m.times) continue;
      if (!m.database.empty() && m.database != database) continue;
      if (!GlobMatches(CollapseWhitespace(m.sql), sql)) continue;
      ++used_[i];
      mock = &m;
      break;
    }
  }
  if (mock != nullptr) {
    if (mock->error) {
      done(std::move(request), FailedPreconditionError("db " + database + ": " + *mock->error));
      return;
    }
    done(std::move(request), Json{{"rows", mock->rows}, {"changes", mock->changes}});
    return;
  }
  if (!real_) {
    done(std::move(request),
         FailedPreconditionError("db " + database +
                                 ": the test gives no database of that name and no db mock "
                                 "matches: " +
                                 sql.substr(0, 120)));
    return;
  }
  real_->Start(std::move(request), std::move(done));
}

}  // namespace flowrun::cli
