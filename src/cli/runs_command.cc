// `flowrun runs ls|show|cancel|rerun`: manages the runs of a running service through its API.
//
//   flowrun runs ls [--flow F] [--status S] [--limit N]
//   flowrun runs show ID
//   flowrun runs cancel ID
//   flowrun runs cancel [--flow F] [--status S] [--since T] [--until T] [--if EXPR]
//   flowrun runs rerun ID [--from-step STEP]
//   flowrun runs rerun [--flow F] [--status S (default failed)] [--since T] [--until T] [--if EXPR]
//                      [--from-step STEP]
//
// Without an ID, cancel and rerun act on every run the filter selects, through the bulk API
// (POST /v1/runs/cancel, /v1/runs/rerun), page by page until the selection is exhausted, and
// print what they did.
//
// Common options: --url (default $FLOWRUN_URL or http://127.0.0.1:8288), --token (default
// $FLOWRUN_TOKEN), --json (print the API's JSON instead of a table). Exit codes: 0 done, 1 the
// server refused (unknown run, finished run, bad token), 2 usage or the server unreachable.
#include <algorithm>
#include <iostream>
#include <memory>
#include <sstream>
#include <vector>

#include "cli/api_client.h"
#include "cli/command.h"
#include "common/json.h"
#include "common/percent_encoding.h"

namespace flowrun::cli {
namespace {

struct RunsOptions {
  std::string url;
  std::string token;
  bool json = false;
  // ls
  std::string flow;
  std::string status;
  int limit = 50;
  // show, cancel, rerun
  std::string run_id;
  std::string from_step;
  // bulk cancel and rerun
  std::string since;
  std::string until;
  std::string condition;
};

bool HasBulkFilter(const RunsOptions& options) {
  return !options.flow.empty() || !options.status.empty() || !options.since.empty() ||
         !options.until.empty() || !options.condition.empty();
}

std::string Text(const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Prints rows as columns separated by two spaces, each as wide as its widest cell.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string ShortRevision(const Json& revision) {
  std::string text = Text(revision);
  return text.size() > 12 ? text.substr(0, 12) : text;
}

std::string ErrorText(const Json& error) {
  if (error.is_null()) return "";
  if (error.is_object() && error.contains("message")) return Text(error["message"]);
  return Text(error);
}

// Calls the API; prints an error and returns the exit code on failure, nullopt on success.
std::optional<int> Call(const RunsOptions& options, bool post, const std::string& path,
                        const Json& body, ApiResponse& response) {
  std::string url = FlagOrEnv(options.url, "FLOWRUN_URL", kDefaultServerUrl);
  StatusOr<std::unique_ptr<ApiClient>> client =
      ApiClient::Create(url, FlagOrEnv(options.token, "FLOWRUN_TOKEN"));
  if (!client.ok()) {
    std::cerr << "flowrun runs: " << client.status().message() << "\n";
    return kExitUsage;
  }
  StatusOr<ApiResponse> result = post ? (*client)->Post(path, body) : (*client)->Get(path);
  if (!result.ok()) {
    std::cerr << "flowrun runs: " << result.status().message() << "\n";
    return kExitUsage;
  }
  response = std::move(result).value();
  if (!response.ok()) {
    std::cerr << "flowrun runs: " << response.ErrorMessage() << "\n";
    return kExitFailure;
  }
  return std::nullopt;
}

void PrintJson(const Json& value) {
  std::cout << value.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
}

int RunList(const RunsOptions& options) {
  std::string path = "/v1/runs?limit=" + std::to_string(options.limit);
  if (!options.flow.empty()) path += "&flow=" + PercentEncode(options.flow);
  if (!options.status.empty()) path += "&status=" + PercentEncode(options.status);
  ApiResponse response;
  if (auto code = Call(options, false, path, nullptr, response)) return *code;
  if (options.json) {
    PrintJson(response.body);
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"ID", "FLOW", "STATUS", "REVISION", "CREATED", "ENDED"}};
  for (const Json& run : response.body.value("runs", Json::array())) {
    rows.push_back({Text(run.value("id", Json())), Text(run.value("flow", Json())),
                    Text(run.value("status", Json())), ShortRevision(run.value("revision", Json())),
                    Text(run.value("created_at", Json())), Text(run.value("ended_at", Json()))});
  }
  if (rows.size() == 1) {
    std::cout << "no runs\n";
    return kExitOk;
  }
  PrintTable(std::cout, rows);
  return kExitOk;
}

int RunShow(const RunsOptions& options) {
  ApiResponse response;
  if (auto code =
          Call(options, false, "/v1/runs/" + PercentEncode(options.run_id), nullptr, response)) {
    return *code;
  }
  const Json& run = response.body;
  if (options.json) {
    PrintJson(run);
    return kExitOk;
  }
  PrintTable(std::cout, {{"run:", Text(run.value("id", Json()))},
                         {"flow:", Text(run.value("flow", Json()))},
                         {"revision:", Text(run.value("revision", Json()))},
                         {"status:", Text(run.value("status", Json()))},
                         {"created:", Text(run.value("created_at", Json()))},
                         {"ended:", Text(run.value("ended_at", Json()))}});
  std::string error = ErrorText(run.value("error", Json()));
  if (!error.empty()) std::cout << "error:     " << error << "\n";
  const Json& output = run.value("output", Json());
  if (!output.is_null()) std::cout << "output:    " << Text(output) << "\n";
  std::vector<std::vector<std::string>> rows = {
      {"STEP", "STATUS", "ATTEMPTS", "DURATION", "ERROR"}};
  for (const Json& step : run.value("steps", Json::array())) {
    const Json& duration = step.value("duration_ms", Json());
    rows.push_back({Text(step.value("key", Json())), Text(step.value("status", Json())),
                    Text(step.value("attempt_count", Json())),
                    duration.is_number() ? std::to_string(duration.get<long long>()) + "ms" : "-",
                    ErrorText(step.value("error", Json()))});
  }
  std::cout << "\n";
  if (rows.size() == 1) {
    std::cout << "no steps yet\n";
  } else {
    PrintTable(std::cout, rows);
  }
  return kExitOk;
}

// Pages through a bulk operation until its selection is exhausted; prints the totals.
int RunBulk(const RunsOptions& options, const std::string& action) {
  Json body = Json::object();
  if (!options.flow.empty()) body["flow"] = options.flow;
  if (!options.status.empty()) body["status"] = options.status;
  if (!options.since.empty()) body["since"] = options.since;
  if (!options.until.empty()) body["until"] = options.until;
  if (!options.condition.empty()) body["if"] = options.condition;
  if (!options.from_step.empty()) body["from_step"] = options.from_step;
  // The API reports what it did under "cancelled" or "rerun".
  const std::string done = action == "cancel" ? "cancelled" : "rerun";
  Json totals = {{"scanned", 0}, {"matched", 0}, {done, 0}, {"skipped", 0}};
  Json errors = Json::array();
  for (int page = 0; page < 1000000; ++page) {
    ApiResponse response;
    if (auto code = Call(options, true, "/v1/runs/" + action, body, response)) return *code;
    for (const char* key : {"scanned", "matched", "skipped"}) {
      totals[key] = totals[key].get<int64_t>() + response.body.value(key, int64_t{0});
    }
    totals[done] = totals[done].get<int64_t>() + response.body.value(done, int64_t{0});
    for (const Json& error : response.body.value("errors", Json::array())) {
      errors.push_back(error);
    }
    const Json& next = response.body.value("next_cursor", Json());
    if (!next.is_string()) break;
    body["cursor"] = next;
  }
  totals["errors"] = errors;
  if (options.json) {
    PrintJson(totals);
  } else {
    std::cout << done << " " << totals[done].get<int64_t>() << " of "
              << totals["matched"].get<int64_t>() << " matching runs ("
              << totals["skipped"].get<int64_t>() << " already finished, " << errors.size()
              << " errors)\n";
    for (const Json& error : errors) {
      std::cout << "  " << Text(error.value("run_id", Json())) << ": "
                << Text(error.value("error", Json())) << "\n";
    }
  }
  return errors.empty() ? kExitOk : kExitFailure;
}

int RunCancel(const RunsOptions& options) {
  if (options.run_id.empty()) return RunBulk(options, "cancel");
  ApiResponse response;
  if (auto code = Call(options, true, "/v1/runs/" + PercentEncode(options.run_id) + "/cancel",
                       Json::object(), response)) {
    return *code;
  }
  if (options.json) {
    PrintJson(response.body);
  } else {
    std::cout << "cancel requested for " << options.run_id << "\n";
  }
  return kExitOk;
}

int RunRerun(const RunsOptions& options) {
  if (options.run_id.empty()) return RunBulk(options, "rerun");
  Json body = Json::object();
  if (!options.from_step.empty()) body["from_step"] = options.from_step;
  ApiResponse response;
  if (auto code = Call(options, true, "/v1/runs/" + PercentEncode(options.run_id) + "/rerun", body,
                       response)) {
    return *code;
  }
  if (options.json) {
    PrintJson(response.body);
  } else {
    std::cout << Text(response.body.value("run_id", Json())) << "\n";
  }
  return kExitOk;
}

}  // namespace

void SetupRunsCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<RunsOptions>();
  CLI::App* runs = app.add_subcommand("runs", "List, inspect, cancel and rerun runs of a service");
  runs->require_subcommand(1);
  runs->fallthrough();
  runs->add_option("--url", options->url,
                   "The service URL (default: $FLOWRUN_URL or http://127.0.0.1:8288)");
  runs->add_option("--token", options->token, "An API token (default: $FLOWRUN_TOKEN)");
  runs->add_flag("--json", options->json, "Print the API's JSON");

  CLI::App* ls = runs->add_subcommand("ls", "List runs, newest first");
  ls->add_option("--flow", options->flow, "Only runs of this flow");
  ls->add_option("--status", options->status, "Only runs with this status")
      ->check(CLI::IsMember({"queued", "running", "sleeping", "waiting", "completed", "failed",
                             "cancelled", "skipped"}));
  ls->add_option("--limit", options->limit, "At most this many runs (default 50)")
      ->check(CLI::Range(1, 1000));
  ls->callback([options, &exit_code] { exit_code = RunList(*options); });

  CLI::App* show = runs->add_subcommand("show", "Show a run with its steps");
  show->add_option("id", options->run_id, "The run id")->required();
  show->callback([options, &exit_code] { exit_code = RunShow(*options); });

  const std::vector<std::string> statuses = {"queued",    "running", "sleeping",  "waiting",
                                             "completed", "failed",  "cancelled", "skipped"};
  auto add_filter = [&](CLI::App* command, const char* status_help) {
    command->add_option("--flow", options->flow, "Only runs of this flow");
    command->add_option("--status", options->status, status_help)->check(CLI::IsMember(statuses));
    command->add_option("--since", options->since, "Only runs created at or after (RFC 3339)");
    command->add_option("--until", options->until, "Only runs created before (RFC 3339)");
    command->add_option("--if", options->condition,
                        "Only runs whose trigger event meets this expression over `event`");
  };
  CLI::App* cancel = runs->add_subcommand(
      "cancel", "Cancel a run, or every run a filter selects, at its next step boundary");
  cancel->add_option("id", options->run_id, "The run id (or give a filter)");
  add_filter(cancel, "Only runs with this status");
  cancel->callback([options, &exit_code] {
    if (options->run_id.empty() == !HasBulkFilter(*options)) {
      std::cerr << "flowrun runs cancel: give a run id or a filter (--flow, --status, --since, "
                   "--until, --if), not both\n";
      exit_code = kExitUsage;
      return;
    }
    exit_code = RunCancel(*options);
  });

  CLI::App* rerun = runs->add_subcommand(
      "rerun", "Start a run, or every run a filter selects, again with the same event");
  rerun->add_option("id", options->run_id, "The run id (or give a filter)");
  add_filter(rerun, "Only runs with this status (default for a filter: failed)");
  rerun->add_option("--from-step", options->from_step,
                    "Keep the results of the steps before this one and run again from it");
  rerun->callback([options, &exit_code] {
    if (!options->run_id.empty() && HasBulkFilter(*options)) {
      std::cerr << "flowrun runs rerun: give a run id or a filter, not both\n";
      exit_code = kExitUsage;
      return;
    }
    exit_code = RunRerun(*options);
  });
}

}  // namespace flowrun::cli
