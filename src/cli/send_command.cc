// `flowrun send NAME [--data JSON] [--id ID] [--url URL] [--key EVENT_KEY] [--token TOKEN]`, or
// `flowrun send --file EVENT.json [...]`: sends one event to a running service and prints its id
// once it is durable. The file holds `{"name": …, "data": {…}}`, as the sample events in
// flows/events/ do (at most 1 MiB).
//
// With an event key (--key or FLOWRUN_EVENT_KEY) it posts to Inngest's path /e/{key}; otherwise
// with an API token (--token or FLOWRUN_TOKEN) to /v1/events; with neither, to /e/local, which a
// service without configured event keys accepts. The URL comes from --url, FLOWRUN_URL or
// http://127.0.0.1:8288. Exit codes: 0 sent, 1 refused by the server, 2 usage or unreachable.
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/api_client.h"
#include "cli/command.h"
#include "common/json.h"
#include "common/percent_encoding.h"

namespace flowrun::cli {
namespace {

struct SendOptions {
  std::string name;
  std::string file;
  std::string data = "{}";
  std::string id;
  std::string url;
  std::string key;
  std::string token;
};

constexpr size_t kMaxEventFileBytes = 1 << 20;

// The event `options` describe: NAME with --data, or the contents of --file.
StatusOr<Json> EventOf(const SendOptions& options) {
  if (options.file.empty() == options.name.empty()) {
    return InvalidArgumentError("give the event name, or --file with a {name, data} event");
  }
  if (options.file.empty()) {
    Json data = Json::parse(options.data, nullptr, /*allow_exceptions=*/false);
    if (data.is_discarded()) return InvalidArgumentError("--data is not valid JSON");
    if (!data.is_object()) {
      return InvalidArgumentError(std::string("--data must be a JSON object, got ") +
                                  data.type_name());
    }
    return Json{{"name", options.name}, {"data", std::move(data)}};
  }
  std::ifstream in(options.file, std::ios::binary);
  if (!in) return NotFoundError("--file " + options.file + ": cannot be read");
  std::string text;
  text.resize(kMaxEventFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) return NotFoundError("--file " + options.file + ": cannot be read");
  if (text.size() > kMaxEventFileBytes) {
    return InvalidArgumentError("--file " + options.file + ": larger than 1 MiB");
  }
  Json event = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded()) {
    return InvalidArgumentError("--file " + options.file + ": not valid JSON");
  }
  if (!event.is_object() || !event.contains("name") || !event["name"].is_string() ||
      event["name"].get_ref<const std::string&>().empty()) {
    return InvalidArgumentError("--file " + options.file +
                                ": expected a JSON object {\"name\": \"…\", \"data\": {…}}");
  }
  Json data = event.value("data", Json::object());
  if (!data.is_object()) {
    return InvalidArgumentError("--file " + options.file + ": data must be a JSON object");
  }
  return Json{{"name", event["name"]}, {"data", std::move(data)}};
}

int RunSend(const SendOptions& options) {
  StatusOr<Json> made = EventOf(options);
  if (!made.ok()) {
    std::cerr << "flowrun send: " << made.status().message() << "\n";
    return kExitUsage;
  }
  Json event = std::move(made).value();
  if (!options.id.empty()) event["id"] = options.id;

  const std::string key = FlagOrEnv(options.key, "FLOWRUN_EVENT_KEY");
  const std::string token = FlagOrEnv(options.token, "FLOWRUN_TOKEN");
  const std::string url = FlagOrEnv(options.url, "FLOWRUN_URL", kDefaultServerUrl);
  std::string path = "/e/local";
  if (!key.empty()) {
    path = "/e/" + PercentEncode(key);
  } else if (!token.empty()) {
    path = "/v1/events";
  }
  StatusOr<std::unique_ptr<ApiClient>> client = ApiClient::Create(url, key.empty() ? token : "");
  if (!client.ok()) {
    std::cerr << "flowrun send: " << client.status().message() << "\n";
    return kExitUsage;
  }
  StatusOr<ApiResponse> response = (*client)->Post(path, event);
  if (!response.ok()) {
    std::cerr << "flowrun send: " << response.status().message() << "\n";
    return kExitUsage;
  }
  if (!response->ok()) {
    std::cerr << "flowrun send: the server refused the event: " << response->ErrorMessage() << "\n";
    return kExitFailure;
  }
  const Json& ids =
      response->body.is_object() ? response->body.value("ids", Json::array()) : Json::array();
  for (const Json& id : ids)
    std::cout << (id.is_string() ? id.get<std::string>() : id.dump()) << "\n";
  return kExitOk;
}

}  // namespace

void SetupSendCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<SendOptions>();
  CLI::App* command = app.add_subcommand("send", "Send an event to a running flowrun service");
  command->add_option("name", options->name, "The event name, e.g. shop/order.paid");
  command->add_option("--file", options->file,
                      "A JSON file holding the event, {\"name\": …, \"data\": {…}} (instead of "
                      "the name and --data)");
  command->add_option("--data", options->data, "The event data, a JSON object (default {})");
  command->add_option("--id", options->id, "A client id; the same id is deduplicated for 24 h");
  command->add_option("--url", options->url,
                      "The service URL (default: $FLOWRUN_URL or http://127.0.0.1:8288)");
  command->add_option("--key", options->key, "An event key (default: $FLOWRUN_EVENT_KEY)");
  command->add_option("--token", options->token,
                      "An API token, used when no event key is given (default: $FLOWRUN_TOKEN)");
  command->callback([options, &exit_code] { exit_code = RunSend(*options); });
}

}  // namespace flowrun::cli
