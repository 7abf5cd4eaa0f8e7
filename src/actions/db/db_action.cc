#include "actions/db/db_action.h"

#include <cctype>

#include "common/thread_annotations.h"

namespace flowrun {
namespace {

bool IsTemplate(const Json& value) {
  return value.is_string() && value.get_ref<const std::string&>().find("${{") != std::string::npos;
}

constexpr const char* kIdempotencyParam = "idempotency_key";

// True when `sql` mentions `:name` as a whole placeholder (not a prefix of a longer name).
bool UsesParameter(const std::string& sql, const std::string& name) {
  std::string needle = ":" + name;
  for (size_t at = sql.find(needle); at != std::string::npos; at = sql.find(needle, at + 1)) {
    size_t end = at + needle.size();
    bool whole = end == sql.size() ||
                 !(std::isalnum(static_cast<unsigned char>(sql[end])) || sql[end] == '_');
    if (whole) return true;
  }
  return false;
}

}  // namespace

DbAction::DbAction(DbActionOptions options) : options_(std::move(options)) {}

DbAction::~DbAction() {
  // Statements still in flight on a loop of our own end (and call back) before the databases go.
  if (own_loop_) own_loop_->Stop();
  open_.clear();
}

size_t DbAction::QueuedStatements() const {
  MutexLock lock(mu_);
  size_t queued = 0;
  for (const auto& [name, db] : open_) queued += db->queued();
  return queued;
}

Status DbAction::CheckDatabaseName(const Json& database) const {
  if (!database.is_string()) return InvalidArgumentError("database must be a string");
  const std::string& name = database.get_ref<const std::string&>();
  if (options_.databases.count(name)) return OkStatus();
  std::string known;
  for (const auto& [n, url] : options_.databases) known += (known.empty() ? "" : ", ") + n;
  return InvalidArgumentError("database \"" + name + "\" is not in the config" +
                              (known.empty() ? std::string(" (no databases are configured)")
                                             : " (configured: " + known + ")"));
}

Status DbAction::CheckArguments(const Json& raw) const {
  if (!raw.is_object()) return InvalidArgumentError("db arguments must be a map");
  for (const auto& [key, value] : raw.items()) {
    if (key != "database" && key != "sql" && key != "params") {
      return InvalidArgumentError("unknown db argument \"" + key + "\"");
    }
  }
  if (!raw.contains("database")) return InvalidArgumentError("database is required");
  if (!IsTemplate(raw["database"])) RETURN_IF_ERROR(CheckDatabaseName(raw["database"]));
  if (!raw.contains("sql") || !raw["sql"].is_string()) {
    return InvalidArgumentError("sql is required and must be a string");
  }
  if (IsTemplate(raw["sql"])) {
    return InvalidArgumentError(
        "sql must not contain ${{ }} templates: pass values as :parameters in params");
  }
  if (raw.contains("params") && !raw["params"].is_object() && !IsTemplate(raw["params"])) {
    return InvalidArgumentError("params must be a map");
  }
  return OkStatus();
}

StatusOr<Database*> DbAction::Get(const std::string& name) {
  MutexLock lock(mu_);
  auto it = open_.find(name);
  if (it != open_.end()) return it->second.get();
  const std::string& url = options_.databases.at(name);
  OutboundLoop* loop = options_.loop;
  if (loop == nullptr && url.rfind("sqlite:", 0) != 0) {
    if (!own_loop_) {
      own_loop_ = std::make_unique<OutboundLoop>();
      RETURN_IF_ERROR(own_loop_->Start());
    }
    loop = own_loop_.get();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Database> db,
                   OpenDatabase(name, url,
                                {.max_connections = options_.max_connections,
                                 .step_results_retention = options_.step_results_retention,
                                 .loop = loop}));
  Database* raw = db.get();
  open_.emplace(name, std::move(db));
  return raw;
}

void DbAction::Start(ActionRequest request, ActionCallback done) {
  auto fail = [&](Status error) {
    if (options_.redactor != nullptr) error = options_.redactor->RedactStatus(error);
    done(std::move(request), std::move(error));
  };
  const Json& args = request.arguments;
  if (!args.is_object()) return fail(InvalidArgumentError("db arguments must be a map"));
  if (!args.contains("database")) return fail(InvalidArgumentError("database is required"));
  if (Status known = CheckDatabaseName(args["database"]); !known.ok()) return fail(known);
  if (!args.contains("sql") || !args["sql"].is_string()) {
    return fail(InvalidArgumentError("sql is required and must be a string"));
  }
  Json params = args.contains("params") ? args["params"] : Json::object();
  if (params.is_null()) params = Json::object();
  if (!params.is_object()) return fail(InvalidArgumentError("params must be a map"));
  std::string sql = args["sql"].get<std::string>();
  if (!params.contains(kIdempotencyParam) && UsesParameter(sql, kIdempotencyParam)) {
    params[kIdempotencyParam] = request.idempotency_key;
  }

  Duration timeout = options_.statement_timeout;
  if (request.deadline != TimePoint{}) {
    const Clock& clock = options_.clock ? *options_.clock : system_clock_;
    Duration remaining = std::chrono::duration_cast<Duration>(request.deadline - clock.Now());
    if (remaining.count() <= 0) {
      return fail(DeadlineExceededError("the step's deadline has passed"));
    }
    timeout = std::min(timeout, remaining);
  }
  StatusOr<Database*> db = Get(args["database"].get<std::string>());
  if (!db.ok()) return fail(db.status());
  // Copied before the callback takes the request: argument order is unspecified.
  std::string result_key = request.idempotency_key;
  (*db)->Start(std::move(sql), std::move(params), timeout, std::move(result_key),
               [this, request = std::move(request),
                done = std::move(done)](StatusOr<QueryResult> result) mutable {
                 if (!result.ok()) {
                   Status error = result.status();
                   if (options_.redactor != nullptr) error = options_.redactor->RedactStatus(error);
                   return done(std::move(request), std::move(error));
                 }
                 done(std::move(request),
                      Json{{"rows", std::move(result->rows)}, {"changes", result->changes}});
               });
}

}  // namespace flowrun
