#include "actions/action_argument_checks.h"

namespace flowrun {

namespace {

HttpActionOptions LimitsOnly(const HttpConfig& http) {
  HttpActionOptions options;
  options.limits = http;
  return options;
}

}  // namespace

ActionArgumentChecks::ActionArgumentChecks(const HttpConfig& http)
    : http_(std::make_unique<HttpAction>(LimitsOnly(http))),
      email_(std::make_unique<EmailAction>(EmailActionOptions{})),
      db_(std::make_unique<DbAction>(DbActionOptions{})) {}

Status ActionArgumentChecks::Check(std::string_view action, const Json& arguments) const {
  if (action == http_->name()) return http_->CheckArguments(arguments);
  if (action == email_->name()) return email_->CheckArguments(arguments);
  if (action == db_->name()) {
    // A template in place of the name makes DbAction leave the name alone (see the header).
    if (arguments.is_object() && arguments.contains("database") &&
        arguments["database"].is_string()) {
      Json unnamed = arguments;
      unnamed["database"] = "${{ database }}";
      return db_->CheckArguments(unnamed);
    }
    return db_->CheckArguments(arguments);
  }
  return OkStatus();
}

CompileOptions ActionArgumentChecks::compile_options() const {
  CompileOptions options;
  options.check_action = [this](std::string_view action, const Json& arguments) {
    return Check(action, arguments);
  };
  return options;
}

}  // namespace flowrun
