// ApiTestServer: a real Runtime and HttpApi on a loopback port, over a temporary flows directory
// and SQLite store, with an httplib client pointed at it. Shared by the HTTP API tests
// (http_api_test.cc and the per-route-group tests).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/cpp_httplib.h"
#include "common/json.h"
#include "config/config.h"
#include "server/http_api.h"
#include "server/runtime.h"
#include "testing/paths.h"

namespace flowrun::testing {

// Flows every API test server has.
inline constexpr const char* kHelloFlow = R"yaml(id: hello
on: {event: test/hello}
steps:
  - id: greet
    log: "hello ${{ event.data.name }}"
  - id: finish
    return: {name: "${{ event.data.name }}", key: "${{ secrets.API_KEY }}"}
)yaml";

inline constexpr const char* kWaiterFlow = R"yaml(id: team/waiter
on: {event: test/wait}
steps:
  - id: before
    set: {k: "${{ event.data.k }}"}
  - id: wait
    wait_for_event: {event: test/never, match: data.k, timeout: 1h}
)yaml";

inline constexpr const char* kSecretValue = "s3cr3t-api-key-value";

struct ApiTestServerOptions {
  std::vector<std::string> api_tokens;
  std::vector<std::string> event_keys;
  std::map<std::string, WebhookConfig> webhooks;
  std::map<std::string, std::string> secrets;
  long long max_event_bytes = 1LL << 20;
  // The clock of webhook signature checks (the runtime keeps the system clock).
  const Clock* clock = nullptr;
  DashboardAssets::FileSource dashboard_files;
  // Extra flow files: name -> YAML.
  std::map<std::string, std::string> flows;
  // The HTTP front's limits and timeouts.
  ServerConfig server;
};

class ApiTestServer {
 public:
  explicit ApiTestServer(ApiTestServerOptions options = {}) {
    dir_ = MakeTempDir();
    std::filesystem::create_directories(dir_ + "/flows");
    WriteFlow("hello.yaml", kHelloFlow);
    WriteFlow("waiter.yaml", kWaiterFlow);
    for (const auto& [name, text] : options.flows) WriteFlow(name, text);
    config_ = Config::Defaults(dir_);
    config_.api_tokens = options.api_tokens;
    config_.event_keys = options.event_keys;
    config_.webhooks = options.webhooks;
    config_.max_event_bytes = options.max_event_bytes;
    config_.workers = 2;
    config_.server = options.server;
    RuntimeOptions runtime_options;
    runtime_options.config = config_;
    options.secrets.emplace("API_KEY", kSecretValue);
    runtime_options.secrets = options.secrets;
    auto runtime = Runtime::Open(std::move(runtime_options));
    if (!runtime.ok()) {
      ADD_FAILURE() << runtime.status().ToString();
      return;
    }
    runtime_ = std::move(runtime).value();
    Status started = runtime_->Start();
    EXPECT_TRUE(started.ok()) << started.ToString();
    HttpApiOptions api_options;
    api_options.clock = options.clock;
    api_options.dashboard_files = options.dashboard_files;
    auto api = HttpApi::Create(*runtime_, config_, api_options);
    if (!api.ok()) {
      ADD_FAILURE() << api.status().ToString();
      return;
    }
    api_ = std::move(api).value();
    Status listening = api_->Listen("127.0.0.1", 0);
    EXPECT_TRUE(listening.ok()) << listening.ToString();
  }

  ~ApiTestServer() {
    if (api_) api_->Stop();
    if (runtime_) runtime_->Shutdown(std::chrono::seconds(5));
  }

  bool ok() const { return runtime_ != nullptr && api_ != nullptr && api_->bound_port() > 0; }
  int port() const { return api_->bound_port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  Runtime& runtime() { return *runtime_; }
  HttpApi& api() { return *api_; }
  const std::string& dir() const { return dir_; }

  // A client with `token` as its Bearer token (none when empty).
  std::unique_ptr<httplib::Client> Client(const std::string& token = "") const {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", port());
    client->set_read_timeout(std::chrono::seconds(60));
    client->set_write_timeout(std::chrono::seconds(60));
    if (!token.empty()) client->set_bearer_token_auth(token);
    return client;
  }

  void WriteFlow(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/flows/" + name, std::ios::binary) << text;
  }

 private:
  std::string dir_;
  Config config_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<HttpApi> api_;
};

// The JSON body of a response (null when the response is missing or not JSON).
inline Json BodyOf(const httplib::Result& result) {
  if (!result) return nullptr;
  try {
    return Json::parse(result->body);
  } catch (const Json::exception&) {
    return nullptr;
  }
}

// The error code of a JSON error response, "" when it has none.
inline std::string ErrorCode(const httplib::Result& result) {
  Json body = BodyOf(result);
  if (!body.is_object() || !body.contains("error")) return "";
  return body["error"].value("code", "");
}

// The message of an error in Inngest's shape {"error": "<message>", "status": <status>}, as
// /e/{event_key} answers; "" (and a test failure) when the body has another shape or its status
// is not the response's.
inline std::string InngestError(const httplib::Result& result) {
  Json body = BodyOf(result);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_string() ||
      body.value("status", 0) != result->status) {
    ADD_FAILURE() << "not an Inngest error: " << (result ? result->body : "no response");
    return "";
  }
  return body["error"];
}

// Polls GET /v1/runs/{id} until the run's status is one of `statuses` (or 20 s pass); returns
// the last body. The service runs on its own threads, so the test waits for it.
inline Json WaitForRun(httplib::Client& client, const std::string& run_id,
                       const std::vector<std::string>& statuses) {
  Json body;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    body = BodyOf(client.Get(("/v1/runs/" + run_id).c_str()));
    if (body.is_object()) {
      for (const auto& status : statuses) {
        if (body.value("status", "") == status) return body;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "run " << run_id << " did not reach the expected status: " << body.dump();
  return body;
}

// The runs of `flow` started by the event with `event_id` (polling, as WaitForRun).
inline std::string RunOfEvent(httplib::Client& client, const std::string& flow,
                              const std::string& event_id) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    Json body = BodyOf(client.Get(("/v1/runs?limit=1000&flow=" + flow).c_str()));
    for (const Json& run : body.value("runs", Json::array())) {
      if (run.value("trigger_event_id", Json()) == event_id) return run["id"];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "no run of " << flow << " for event " << event_id;
  return "";
}

}  // namespace flowrun::testing
