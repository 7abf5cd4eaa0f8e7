// ActionArgumentChecks: the argument checks `serve` applies to http, email and db steps when it
// compiles a flow (Action::CheckArguments: header syntax, URL schemes and allowed hosts, email
// addresses and subjects, db arguments), for tools that compile flows without running them
// (`flowrun validate`, `flowrun test`), so that a flow they pass is not refused by `serve`.
//
// A db step's database name is not checked here: without a config there is nothing to check it
// against, and `validate --config` reports it once, as config-database.
//
// Thread-safety: Check may be called from several threads; the object must outlive the
// CompileOptions it hands out.
#pragma once

#include <memory>
#include <string_view>

#include "actions/db/db_action.h"
#include "actions/email/email_action.h"
#include "actions/http/http_action.h"
#include "config/config.h"
#include "flow/compiler.h"

namespace flowrun {

class ActionArgumentChecks {
 public:
  // `http` supplies allow_hosts and deny_hosts. Default: no host restrictions.
  explicit ActionArgumentChecks(const HttpConfig& http = {});
  ActionArgumentChecks(const ActionArgumentChecks&) = delete;
  ActionArgumentChecks& operator=(const ActionArgumentChecks&) = delete;

  // OK for actions other than http, email and db.
  [[nodiscard]] Status Check(std::string_view action, const Json& arguments) const;

  // CompileOptions whose check_action is Check.
  CompileOptions compile_options() const;

 private:
  std::unique_ptr<HttpAction> http_;
  std::unique_ptr<EmailAction> email_;
  std::unique_ptr<DbAction> db_;
};

}  // namespace flowrun
