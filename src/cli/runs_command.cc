// `flowrun runs ls|show|cancel|rerun`: manages the runs of a running service through its API.
//
//   flowrun runs ls [--flow F] [--status S] [--limit N]
//   flowrun runs show ID
//   flowrun runs cancel ID
//   flowrun runs rerun ID [--from-step STEP]
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
};

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

int RunCancel(const RunsOptions& options) {
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
      ->check(CLI::IsMember(
          {"queued", "running", "sleeping", "waiting", "completed", "failed", "cancelled"}));
  ls->add_option("--limit", options->limit, "At most this many runs (default 50)")
      ->check(CLI::Range(1, 1000));
  ls->callback([options, &exit_code] { exit_code = RunList(*options); });

  CLI::App* show = runs->add_subcommand("show", "Show a run with its steps");
  show->add_option("id", options->run_id, "The run id")->required();
  show->callback([options, &exit_code] { exit_code = RunShow(*options); });

  CLI::App* cancel = runs->add_subcommand("cancel", "Cancel a run at its next step boundary");
  cancel->add_option("id", options->run_id, "The run id")->required();
  cancel->callback([options, &exit_code] { exit_code = RunCancel(*options); });

  CLI::App* rerun = runs->add_subcommand("rerun", "Start a run again with the same event");
  rerun->add_option("id", options->run_id, "The run id")->required();
  rerun->add_option("--from-step", options->from_step,
                    "Keep the results of the steps before this one and run again from it");
  rerun->callback([options, &exit_code] { exit_code = RunRerun(*options); });
}

}  // namespace flowrun::cli
