#include "actions/builtin_actions.h"

#include <memory>

#include "actions/db/db_action.h"
#include "actions/email/email_action.h"
#include "actions/email/mime_message.h"
#include "actions/http/http_action.h"

namespace flowrun {
namespace {

StatusOr<std::unique_ptr<Action>> MakeHttp(const Config& config,
                                           const BuiltinActionEnvironment& env) {
  HttpActionOptions options;
  options.limits = config.http;
  options.ca_file = env.ca_file;
  options.loop = env.loop;
  options.clock = env.clock;
  options.redactor = env.redactor;
  return std::unique_ptr<Action>(new HttpAction(std::move(options)));
}

StatusOr<std::unique_ptr<Action>> MakeEmail(const Config& config,
                                            const BuiltinActionEnvironment& env) {
  EmailActionOptions options;
  options.ca_file = env.ca_file;
  options.loop = env.loop;
  options.clock = env.clock;
  options.redactor = env.redactor;
  if (config.smtp) {
    SmtpConfig smtp = *config.smtp;
    Secrets none;
    const Secrets& secrets = env.secrets ? *env.secrets : none;
    StatusOr<std::string> username = secrets.Resolve(smtp.username);
    if (!username.ok()) return username.status().WithContext("smtp.username");
    StatusOr<std::string> password = secrets.Resolve(smtp.password);
    if (!password.ok()) return password.status().WithContext("smtp.password");
    smtp.username = *username;
    smtp.password = *password;
    if (!smtp.from.empty()) {
      StatusOr<MailAddress> from = ParseMailAddress(smtp.from, "smtp.from");
      if (!from.ok()) return from.status();
    }
    options.smtp = std::move(smtp);
  } else if (env.outbox == nullptr) {
    return FailedPreconditionError("no smtp is configured and no outbox was given for email");
  }
  options.outbox = env.outbox;
  return std::unique_ptr<Action>(new EmailAction(std::move(options)));
}

StatusOr<std::unique_ptr<Action>> MakeDb(const Config& config,
                                         const BuiltinActionEnvironment& env) {
  DbActionOptions options;
  options.databases = config.databases;
  options.loop = env.loop;
  options.clock = env.clock;
  options.redactor = env.redactor;
  options.step_results_retention = config.retention.runs;
  return std::unique_ptr<Action>(new DbAction(std::move(options)));
}

}  // namespace

BuiltinActionStats ReadBuiltinActionStats(const ActionRegistry& registry,
                                          const OutboundLoop* loop) {
  BuiltinActionStats stats;
  if (loop != nullptr) {
    OutboundLoopStats outbound = loop->Stats();
    stats.transfers_in_flight = outbound.transfers_in_flight;
    stats.socket_waits = outbound.socket_waits;
  }
  if (auto* http = dynamic_cast<const HttpAction*>(registry.Find("http"))) {
    stats.transfers_in_flight += http->PlainRequestsInFlight();
  }
  if (auto* email = dynamic_cast<const EmailAction*>(registry.Find("email"))) {
    EmailActionStats mail = email->Stats();
    stats.smtp_sessions_in_use = mail.sessions_in_use;
    stats.smtp_waiting = mail.waiting;
  }
  if (auto* db = dynamic_cast<const DbAction*>(registry.Find("db"))) {
    stats.db_statements_queued = static_cast<long long>(db->QueuedStatements());
  }
  return stats;
}

OutboundLoopOptions OutboundLoopFor(const Config& config) {
  OutboundLoopOptions options;
  options.max_connections_per_host = config.http.max_connections_per_host;
  options.max_total_connections = config.http.max_connections;
  return options;
}

Status RegisterBuiltinActions(ActionRegistry& registry, const Config& config,
                              const BuiltinActionEnvironment& environment) {
  using Factory =
      StatusOr<std::unique_ptr<Action>> (*)(const Config&, const BuiltinActionEnvironment&);
  // One line per action.
  for (Factory make : {&MakeHttp, &MakeEmail, &MakeDb}) {
    ASSIGN_OR_RETURN(std::unique_ptr<Action> action, make(config, environment));
    RETURN_IF_ERROR(registry.Register(std::move(action)));
  }
  return OkStatus();
}

}  // namespace flowrun
