#include "flow/schema_validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "common/embedded_files.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<SchemaViolation> CheckFlow(const std::string& json) {
  return SchemaValidator::ForFlows().Validate(Json::parse(json));
}

std::vector<SchemaViolation> CheckConfig(const std::string& json) {
  return SchemaValidator::ForConfig().Validate(Json::parse(json));
}

// A flow with one step whose body is `step` (a JSON object without the braces).
std::string OneStep(const std::string& step) {
  return R"({"id": "demo", "steps": [{"id": "s", )" + step + "}]}";
}

std::string Describe(const std::vector<SchemaViolation>& violations) {
  std::string out;
  for (const auto& v : violations) {
    out += v.pointer + (v.points_at_key ? " (key)" : "") + ": " + v.message + " [" + v.rule +
           "] hint: " + v.hint + "\n";
  }
  return out;
}

const char* const kDesignExample = R"json({
  "id": "mentorship-onboarding",
  "description": "Purchase → Discord email → wait for Discord → grant access",
  "on": [
    {"event": "purchase/mentorship", "if": "event.data.provider == \"stripe\""},
    {"cron": "0 0 * * *", "timezone": "America/Los_Angeles"}
  ],
  "idempotency": "event.data.orderId",
  "concurrency": {"limit": 1, "key": "event.data.userId"},
  "cancel_on": [{"event": "purchase/refunded", "match": "data.orderId"}],
  "timeout": "30d",
  "retry": {"attempts": 5, "delay": "15s", "backoff": "exponential", "max_delay": "2h",
            "jitter": true},
  "on_failure": [
    {"id": "alert-admin",
     "email": {"to": "ops@example.com", "subject": "Run ${{ run.id }} failed",
               "text": "${{ error.message }}"}}
  ],
  "steps": [
    {"id": "get-user",
     "http": {"method": "GET", "url": "https://api.example.com/users/${{ event.data.clerkId }}",
              "headers": {"Authorization": "Bearer ${{ secrets.CLERK_KEY }}"}, "timeout": "10s"}},
    {"id": "send-discord-email",
     "email": {"to": "${{ steps.get-user.output.body.email }}", "subject": "Connect your Discord",
               "text": "Hi ${{ steps.get-user.output.body.first_name }}"}},
    {"id": "discord",
     "wait_for_event": {"event": "user/discord.connected", "match": "data.clerkId",
                        "timeout": "48h"}},
    {"id": "grant-access", "if": "steps.discord.output != null",
     "db": {"database": "app",
            "sql": "UPDATE users SET dashboard_access = 1 WHERE clerk_id = :clerk",
            "params": {"clerk": "${{ event.data.clerkId }}"}}},
    {"id": "remind", "if": "steps.discord.output == null",
     "email": {"to": "${{ steps.get-user.output.body.email }}", "subject": "Still waiting",
               "text": "…"}}
  ]
})json";

TEST(SchemaValidatorTest, EmbeddedSchemasAreDraft07) {
  EXPECT_EQ(SchemaValidator::ForFlows().schema()["$schema"],
            "http://json-schema.org/draft-07/schema#");
  EXPECT_EQ(SchemaValidator::ForConfig().schema()["$schema"],
            "http://json-schema.org/draft-07/schema#");
}

TEST(SchemaValidatorTest, DesignExampleIsValid) {
  auto violations = CheckFlow(kDesignExample);
  EXPECT_THAT(violations, IsEmpty()) << Describe(violations);
}

TEST(SchemaValidatorTest, EveryActionAndControlKeyIsAccepted) {
  const char* const flow = R"json({
    "id": "all.keys/v1",
    "on": {"event": "stripe/*"},
    "idempotency": {"key": "event.data.id", "window": "7d"},
    "concurrency": {"limit": 3},
    "cancel_on": [{"event": "order/cancelled", "if": "async.data.id == event.data.id", "timeout": "1h"}],
    "steps": [
      {"id": "h", "name": "Call", "retry": {"attempts": 1}, "timeout": "5s", "on_error": "continue",
       "http": {"method": "post", "url": "https://x.test", "query": {"a": 1, "b": ["x", "y"]},
                "json": {"k": [1, 2]}, "expect": [200, 201], "follow_redirects": false}},
      {"id": "h2", "http": {"url": "https://x.test", "form": {"a": "b"}}, "on_error": [
        {"id": "handler", "log": {"message": "failed: ${{ error.message }}", "level": "warn"}}]},
      {"id": "h3", "http": {"url": "https://x.test", "body": "raw"}},
      {"id": "e", "email": {"to": ["a@x.test", "b@x.test"], "cc": "c@x.test", "bcc": [],
                            "from": "Ops <ops@x.test>", "reply_to": "r@x.test", "subject": "s",
                            "text": "t", "html": "<p>t</p>", "headers": {"X-Tag": "t"}}},
      {"id": "d", "db": {"database": "app", "sql": "SELECT ?", "params": [1]}},
      {"id": "w", "wait_for_event": {"event": "a/b", "if": "async.data.x == 1", "timeout": "1h",
                                     "lookback": "run"}},
      {"id": "w2", "wait_for_event": {"event": "a/b", "match": "data.x", "timeout": "1h",
                                      "lookback": "15m"}},
      {"id": "sl", "sleep": "1h30m"},
      {"id": "sl2", "sleep": "${{ vars.delay }}"},
      {"id": "su", "sleep_until": "2025-01-31T09:00:00Z"},
      {"id": "su2", "sleep_until": "2025-01-31T09:00:00.250+02:00"},
      {"id": "su3", "sleep_until": "${{ timestamp(event.data.at) - duration(\"3d\") }}"},
      {"id": "se", "send_event": {"name": "a/b", "data": {"x": 1}, "id": "k", "delay": "10m"}},
      {"id": "se2", "send_event": [{"name": "a/b"}, {"name": "c/d", "data": null}]},
      {"id": "i", "invoke": {"flow": "child", "data": {"x": 1}, "timeout": "1h"}},
      {"id": "set", "set": {"total": 3, "name": "${{ event.data.name }}"}},
      {"id": "l", "log": "hello ${{ event.name }}"},
      {"id": "f", "if": "false", "fail": {"message": "no", "retryable": true}},
      {"id": "f2", "if": "${{ event.data.bad }}", "fail": "no"},
      {"id": "r", "return": {"ok": true}},
      {"id": "sw", "switch": {"cases": [{"when": "event.data.x > 1", "steps": [
          {"id": "big", "log": "big"}]}], "default": [{"id": "small", "log": "small"}]}},
      {"id": "p", "parallel": {"branches": {"a": [{"id": "pa", "log": "a"}],
                                            "b": [{"id": "pb", "log": "b"}]}}},
      {"id": "fe", "foreach": {"items": "event.data.list", "as": "entry", "concurrency": 4,
                               "steps": [{"id": "each", "log": "${{ entry }}"}]}},
      {"id": "blk", "if": "true", "steps": [{"id": "inner", "sleep": "500ms"}]},
      {"id": "cron_flow_ok", "return": null}
    ]
  })json";
  auto violations = CheckFlow(flow);
  EXPECT_THAT(violations, IsEmpty()) << Describe(violations);

  auto cron = CheckFlow(R"({"id": "c", "on": [{"cron": "@daily", "catchup": "all"},
                                              {"cron": "0 9 * * 1", "timezone": "Europe/Paris",
                                               "catchup": "none"}],
                            "steps": []})");
  EXPECT_THAT(cron, IsEmpty()) << Describe(cron);
}

TEST(SchemaValidatorTest, UnknownStepKeySuggestsTheClosestKey) {
  auto violations = CheckFlow(R"({"id": "demo", "steps": [
      {"id": "get-user", "iff": "true", "log": "x"}]})");
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/steps/0/iff");
  EXPECT_TRUE(violations[0].points_at_key);
  EXPECT_EQ(violations[0].rule, "unknown-key");
  EXPECT_EQ(violations[0].message, R"(unknown key "iff" in step "get-user")");
  EXPECT_EQ(violations[0].hint, R"(did you mean "if"?)");
}

TEST(SchemaValidatorTest, UnknownKeyNamesTheEnclosingStep) {
  auto violations = CheckFlow(R"({"id": "demo", "steps": [
      {"id": "get-user", "http": {"methd": "GET", "url": "https://x.test"}}]})");
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/steps/0/http/methd");
  EXPECT_EQ(violations[0].message, R"(unknown key "methd" in http of step "get-user")");
  EXPECT_EQ(violations[0].hint, R"(did you mean "method"?)");
}

TEST(SchemaValidatorTest, UnknownFlowKey) {
  auto violations = CheckFlow(R"({"id": "demo", "stepz": [], "steps": []})");
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/stepz");
  EXPECT_EQ(violations[0].message, R"(unknown key "stepz" in flow "demo")");
  EXPECT_EQ(violations[0].hint, R"(did you mean "steps"?)");
}

TEST(SchemaValidatorTest, KeyWrittenOneLevelTooHighPointsToItsParent) {
  auto violations = CheckFlow(OneStep(R"("url": "https://x.test", "http": {"url": "https://x"})"));
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/steps/0/url");
  EXPECT_EQ(violations[0].hint, R"(did you mean to put "url" under "http"?)");
}

TEST(SchemaValidatorTest, SmallObjectsListTheirKeysWhenNothingIsClose) {
  auto violations = CheckFlow(R"({"id": "demo", "retry": {"zzzzzz": 1}, "steps": []})");
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].message, R"(unknown key "zzzzzz" in retry of flow "demo")");
  EXPECT_EQ(violations[0].hint, "expected one of: attempts, backoff, delay, jitter, max_delay");
}

TEST(SchemaValidatorTest, EveryUnknownKeyOfAnObjectIsReported) {
  auto violations = CheckFlow(OneStep(R"("log": "x", "iff": "a", "retries": 3)"));
  ASSERT_EQ(violations.size(), 2u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/steps/0/iff");
  EXPECT_EQ(violations[1].pointer, "/steps/0/retries");
}

TEST(SchemaValidatorTest, MissingRequiredKey) {
  auto violations = CheckFlow(R"({"id": "demo", "steps": [{"id": "get", "http": {}}]})");
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/steps/0/http");
  EXPECT_FALSE(violations[0].points_at_key);
  EXPECT_EQ(violations[0].rule, "required-key");
  EXPECT_EQ(violations[0].message, R"(missing required key "url" in http of step "get")");

  auto no_steps = CheckFlow(R"({"id": "demo"})");
  ASSERT_EQ(no_steps.size(), 1u) << Describe(no_steps);
  EXPECT_EQ(no_steps[0].pointer, "");
  EXPECT_EQ(no_steps[0].message, R"(missing required key "steps" in flow "demo")");

  auto no_id = CheckFlow(R"({"id": "demo", "steps": [{"log": "x"}]})");
  ASSERT_EQ(no_id.size(), 1u) << Describe(no_id);
  EXPECT_EQ(no_id[0].pointer, "/steps/0");
  EXPECT_EQ(no_id[0].message, R"(missing required key "id" in step of flow "demo")");
}

TEST(SchemaValidatorTest, WrongType) {
  auto number = CheckFlow(OneStep(R"("timeout": 30, "log": "x")"));
  ASSERT_EQ(number.size(), 1u) << Describe(number);
  EXPECT_EQ(number[0].pointer, "/steps/0/timeout");
  EXPECT_EQ(number[0].rule, "type");
  EXPECT_EQ(number[0].message, "expected a string, got an integer");
  EXPECT_EQ(number[0].hint,
            "expected a duration such as 30s, 15m, 72h or 7d (or a ${{ }} expression)");

  auto mapping = CheckFlow(R"({"id": "demo", "steps": {"id": "s", "log": "x"}})");
  ASSERT_EQ(mapping.size(), 1u) << Describe(mapping);
  EXPECT_EQ(mapping[0].pointer, "/steps");
  EXPECT_EQ(mapping[0].message, "expected a list, got a mapping");
  EXPECT_EQ(mapping[0].hint, "start each list item with \"- \"");

  auto union_type = CheckFlow(R"({"id": "demo", "on": "push", "steps": []})");
  ASSERT_EQ(union_type.size(), 1u) << Describe(union_type);
  EXPECT_EQ(union_type[0].message, "expected a mapping or a list, got a string");

  auto not_a_mapping = CheckFlow(R"(["id"])");
  ASSERT_EQ(not_a_mapping.size(), 1u) << Describe(not_a_mapping);
  EXPECT_EQ(not_a_mapping[0].pointer, "");
  EXPECT_EQ(not_a_mapping[0].message, "expected a mapping, got a list");

  auto boolean = CheckFlow(R"({"id": true, "steps": []})");
  ASSERT_EQ(boolean.size(), 1u) << Describe(boolean);
  EXPECT_EQ(boolean[0].message, "expected a string, got true");
  EXPECT_EQ(boolean[0].hint,
            "expected lowercase letters, digits and . _ / -, starting with a letter or digit");

  auto empty = CheckFlow(OneStep(R"("email": {"to": null})"));
  ASSERT_EQ(empty.size(), 1u) << Describe(empty);
  EXPECT_EQ(empty[0].message, "expected a string or a list, got an empty value");
}

TEST(SchemaValidatorTest, EnumListsAllowedValuesAndSuggests) {
  auto violations = CheckFlow(R"({"id": "demo", "retry": {"backoff": "expo"}, "steps": []})");
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/retry/backoff");
  EXPECT_EQ(violations[0].rule, "schema");
  EXPECT_EQ(violations[0].message,
            R"(invalid backoff "expo": expected one of exponential, linear, constant)");
  EXPECT_EQ(violations[0].hint, R"(did you mean "exponential"?)");

  auto method = CheckFlow(OneStep(R"("http": {"method": "GETT", "url": "u"})"));
  ASSERT_EQ(method.size(), 1u) << Describe(method);
  EXPECT_EQ(
      method[0].message,
      R"(invalid method "GETT": expected one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)");
  EXPECT_EQ(method[0].hint, R"(did you mean "GET"?)");

  auto on_error = CheckFlow(OneStep(R"("log": "x", "on_error": "ignore")"));
  ASSERT_EQ(on_error.size(), 1u) << Describe(on_error);
  EXPECT_EQ(on_error[0].message, R"(invalid on_error "ignore": expected one of fail, continue)");
}

TEST(SchemaValidatorTest, ConditionsMustBeExpressionStrings) {
  // YAML reads `if: false` as a boolean; a condition is an expression, so it must be text.
  auto violations = CheckFlow(OneStep(R"("if": false, "log": "x")"));
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/steps/0/if");
  EXPECT_EQ(violations[0].message, "expected a string, got false");
  EXPECT_EQ(violations[0].hint, "quote the value to make it a string");
}

TEST(SchemaValidatorTest, TypeErrorHidesOtherComplaintsAboutTheSameValue) {
  auto violations = CheckFlow(R"({"id": "demo", "retry": {"backoff": 5}, "steps": []})");
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].rule, "type");
  EXPECT_EQ(violations[0].message, "expected a string, got an integer");
}

TEST(SchemaValidatorTest, DurationPattern) {
  for (const char* good : {"500ms", "30s", "15m", "72h", "7d", "1h30m", "1d2h3m4s5ms", "0s",
                           "${{ vars.delay }}", "${{ event.data.hours }}h"}) {
    auto violations = CheckFlow(OneStep(std::string(R"("sleep": ")") + good + "\""));
    EXPECT_THAT(violations, IsEmpty()) << good << "\n" << Describe(violations);
  }
  for (const char* bad : {"", "5", "5 minutes", "30m1h", "1x", "h", "1.5h", "-1s"}) {
    auto violations = CheckFlow(OneStep(std::string(R"("sleep": ")") + bad + "\""));
    ASSERT_EQ(violations.size(), 1u) << bad << "\n" << Describe(violations);
    EXPECT_EQ(violations[0].rule, "schema");
    EXPECT_EQ(violations[0].message,
              std::string("invalid sleep \"") + bad +
                  "\": expected a duration such as 30s, 15m, 72h or 7d (or a ${{ }} expression)");
  }
}

TEST(SchemaValidatorTest, IdPatterns) {
  auto flow_id = CheckFlow(R"({"id": "Mentorship Onboarding", "steps": []})");
  ASSERT_EQ(flow_id.size(), 1u) << Describe(flow_id);
  EXPECT_EQ(flow_id[0].message,
            "invalid id \"Mentorship Onboarding\": expected lowercase letters, digits and . _ / -, "
            "starting with a letter or digit");

  auto step_id = CheckFlow(R"({"id": "demo", "steps": [{"id": "get user", "log": "x"}]})");
  ASSERT_EQ(step_id.size(), 1u) << Describe(step_id);
  EXPECT_EQ(step_id[0].pointer, "/steps/0/id");
  EXPECT_EQ(step_id[0].message,
            "invalid id \"get user\": expected letters, digits, _ and -, not starting with -");

  EXPECT_THAT(CheckFlow(R"({"id": "billing/renewal-reminder.v2", "steps": [
                             {"id": "Get_User-2", "log": "x"}]})"),
              IsEmpty());
}

TEST(SchemaValidatorTest, TriggerShapes) {
  auto both = CheckFlow(R"({"id": "d", "on": {"event": "a", "cron": "@daily"}, "steps": []})");
  ASSERT_EQ(both.size(), 1u) << Describe(both);
  EXPECT_EQ(both[0].pointer, "/on/event");
  EXPECT_TRUE(both[0].points_at_key);
  EXPECT_EQ(both[0].message, R"(a trigger has either "event" or "cron", not both)");

  auto cron_if = CheckFlow(R"({"id": "d", "on": [{"cron": "@daily", "if": "x"}], "steps": []})");
  ASSERT_EQ(cron_if.size(), 1u) << Describe(cron_if);
  EXPECT_EQ(cron_if[0].pointer, "/on/0/if");
  EXPECT_EQ(cron_if[0].message, R"("if" applies to event triggers, not to cron triggers)");

  auto timezone = CheckFlow(R"({"id": "d", "on": [{"event": "a", "timezone": "UTC"}],
                                "steps": []})");
  ASSERT_EQ(timezone.size(), 1u) << Describe(timezone);
  EXPECT_EQ(timezone[0].message, R"("timezone" applies to cron triggers only)");

  auto neither = CheckFlow(R"({"id": "d", "on": [{"if": "true"}], "steps": []})");
  ASSERT_EQ(neither.size(), 1u) << Describe(neither);
  EXPECT_EQ(neither[0].message, R"(missing required key "event" in trigger of flow "d")");

  auto wildcard = CheckFlow(R"({"id": "d", "on": {"event": "stripe/*/paid"}, "steps": []})");
  ASSERT_EQ(wildcard.size(), 1u) << Describe(wildcard);
  EXPECT_EQ(wildcard[0].pointer, "/on/event");
  EXPECT_FALSE(wildcard[0].points_at_key);
  EXPECT_EQ(wildcard[0].message,
            "only a trailing * wildcard is allowed in an event name, as in stripe/*");

  auto catchup = CheckFlow(R"({"id": "d", "on": {"cron": "@daily", "catchup": "some"},
                               "steps": []})");
  ASSERT_EQ(catchup.size(), 1u) << Describe(catchup);
  EXPECT_EQ(catchup[0].message, R"(invalid catchup "some": expected one of none, latest, all)");
}

TEST(SchemaValidatorTest, RangesAndSizes) {
  auto attempts = CheckFlow(R"({"id": "d", "retry": {"attempts": 0}, "steps": []})");
  ASSERT_EQ(attempts.size(), 1u) << Describe(attempts);
  EXPECT_EQ(attempts[0].message, "attempts must be at least 1, got 0");

  auto branches = CheckFlow(OneStep(R"("parallel": {"branches": {}})"));
  ASSERT_EQ(branches.size(), 1u) << Describe(branches);
  EXPECT_EQ(branches[0].message, "branches must not be empty");

  auto expect = CheckFlow(OneStep(R"("http": {"url": "u", "expect": [200, 700]})"));
  ASSERT_EQ(expect.size(), 1u) << Describe(expect);
  EXPECT_EQ(expect[0].pointer, "/steps/0/http/expect/1");
  EXPECT_EQ(expect[0].message, "value must be at most 599, got 700");
}

TEST(SchemaValidatorTest, FiveProblemsGiveFiveViolations) {
  auto violations = CheckFlow(R"json({
    "id": "demo",
    "retry": {"backoff": "expo"},
    "steps": [
      {"id": "a", "iff": "true", "log": "x"},
      {"id": "b", "http": {"method": "GET"}},
      {"id": "c", "sleep": "5 minutes"},
      {"id": "d", "switch": {"cases": [{"when": "x", "steps": [{"id": "e", "timeout": 5,
                                                                 "log": "y"}]}]}}
    ]})json");
  EXPECT_THAT(violations, ElementsAre(Field(&SchemaViolation::pointer, "/retry/backoff"),
                                      Field(&SchemaViolation::pointer, "/steps/0/iff"),
                                      Field(&SchemaViolation::pointer, "/steps/1/http"),
                                      Field(&SchemaViolation::pointer, "/steps/2/sleep"),
                                      Field(&SchemaViolation::pointer,
                                            "/steps/3/switch/cases/0/steps/0/timeout")))
      << Describe(violations);
}

TEST(SchemaValidatorTest, NestedStepsAreChecked) {
  auto violations = CheckFlow(R"json({"id": "d", "on_failure": [{"id": "x", "logg": "y"}],
    "steps": [{"id": "p", "parallel": {"branches": {"a": [{"id": "q", "foreach": {
      "items": "event.data.l", "steps": [{"id": "r", "on_error": [{"id": "h", "emial": {}}],
                                         "log": "z"}]}}]}}}]})json");
  ASSERT_EQ(violations.size(), 2u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/on_failure/0/logg");
  EXPECT_EQ(violations[0].hint, R"(did you mean "log"?)");
  EXPECT_EQ(violations[1].pointer,
            "/steps/0/parallel/branches/a/0/foreach/steps/0/on_error/0/emial");
  EXPECT_EQ(violations[1].message, R"(unknown key "emial" in step "h")");
  EXPECT_EQ(violations[1].hint, R"(did you mean "email"?)");
}

TEST(SchemaValidatorTest, PointersEscapeAndSortNumerically) {
  std::string steps;
  for (int i = 0; i < 12; ++i) {
    if (i) steps += ",";
    steps += R"({"id": "s)" + std::to_string(i) + R"(", "log": "x", "a/b~c": 1})";
  }
  auto violations = CheckFlow(R"({"id": "d", "steps": [)" + steps + "]}");
  ASSERT_EQ(violations.size(), 12u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/steps/0/a~1b~0c");
  EXPECT_EQ(violations[2].pointer, "/steps/2/a~1b~0c");
  EXPECT_EQ(violations[11].pointer, "/steps/11/a~1b~0c");
}

TEST(SchemaValidatorTest, SendEventOptionalIdIsNotAName) {
  auto violations = CheckFlow(OneStep(R"("send_event": {"name": "a", "id": "x", "dat": {}})"));
  ASSERT_EQ(violations.size(), 1u) << Describe(violations);
  EXPECT_EQ(violations[0].message, R"(unknown key "dat" in send_event of step "s")");
  EXPECT_EQ(violations[0].hint, R"(did you mean "data"?)");
}

TEST(SchemaValidatorTest, HugeValuesDoNotOverflowTheRegexEngine) {
  const std::string huge(300'000, 'a');
  Json doc = Json::parse(OneStep(R"("log": "x")"));
  doc["id"] = huge;
  doc["steps"][0]["id"] = huge;
  doc["steps"][0]["timeout"] = std::string(300'000, '1');
  doc["on"] = {{"event", huge}};
  auto violations = SchemaValidator::ForFlows().Validate(doc);
  ASSERT_EQ(violations.size(), 3u) << Describe(violations);
  EXPECT_EQ(violations[0].pointer, "/id");
  EXPECT_EQ(violations[0].message, "id must be at most 200 characters long");
  EXPECT_EQ(violations[2].pointer, "/steps/0/timeout");
  EXPECT_LT(violations[2].message.size(), 200u);
}

TEST(SchemaValidatorTest, ValidateIsThreadSafe) {
  const Json doc = Json::parse(R"({"id": "demo", "steps": [{"id": "a", "iff": "x", "log": "y"}]})");
  const auto expected = SchemaValidator::ForFlows().Validate(doc);
  ASSERT_EQ(expected.size(), 1u);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto got = SchemaValidator::ForFlows().Validate(doc);
        if (got.size() != 1 || got[0].message != expected[0].message) ++mismatches[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

TEST(SchemaValidatorTest, CreateRejectsBadSchemas) {
  EXPECT_FALSE(SchemaValidator::Create("{not json").ok());
  EXPECT_FALSE(SchemaValidator::Create("[]").ok());
  EXPECT_FALSE(SchemaValidator::Create(R"({"$ref": 5})").ok());
  auto custom = SchemaValidator::Create(R"({"type": "object", "required": ["a"]})");
  ASSERT_TRUE(custom.ok()) << custom.status().ToString();
  auto violations = custom->Validate(Json::object());
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].message, R"(missing required key "a")");
}

// Every property the schemas define carries a description, which editors show on hover.
void ExpectDescriptions(const Json& node, const std::string& pointer,
                        std::vector<std::string>& missing) {
  if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      ExpectDescriptions(node[i], pointer + "/" + std::to_string(i), missing);
    }
    return;
  }
  if (!node.is_object()) return;
  if (auto properties = node.find("properties"); properties != node.end()) {
    for (const auto& [name, property] : properties->items()) {
      // Conditional branches restate properties only to constrain them.
      const bool in_branch = pointer.find("/then") != std::string::npos ||
                             pointer.find("/else") != std::string::npos ||
                             pointer.find("/if") != std::string::npos;
      if (!in_branch && (!property.is_object() || !property.contains("description"))) {
        missing.push_back(pointer + "/properties/" + name);
      }
    }
  }
  for (const auto& [key, child] : node.items())
    ExpectDescriptions(child, pointer + "/" + key, missing);
}

TEST(SchemaValidatorTest, EveryPropertyHasADescription) {
  for (const auto* validator : {&SchemaValidator::ForFlows(), &SchemaValidator::ForConfig()}) {
    std::vector<std::string> missing;
    ExpectDescriptions(validator->schema(), "", missing);
    EXPECT_THAT(missing, IsEmpty());
  }
}

TEST(SchemaValidatorTest, SchemasPassTheDraft07MetaSchema) {
  // Debian's interpreter, with python3-jsonschema (installed by scripts/test.sh).
  const std::string command =
      "/usr/bin/python3 " + testing::SourceDir() + "/tests/schemas/check_schemas.py";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

TEST(ConfigSchemaTest, ValidConfig) {
  auto violations = CheckConfig(R"json({
    "listen": "0.0.0.0:8288", "store": "sqlite:flowrun.db", "flows": "flows/",
    "databases": {"app": "sqlite:app.db", "crm": "postgres://user@host/db"},
    "smtp": {"url": "smtp://localhost:2525", "from": "Ops <ops@x.test>", "starttls": "off",
             "username": "u", "password": "${{ secrets.SMTP_PASSWORD }}"},
    "http": {"timeout": "30s", "connect_timeout": "5s", "max_response_bytes": 1048576,
             "allow_hosts": ["api.example.com"], "deny_hosts": ["169.254.169.254"]},
    "event_keys": ["k1"], "api_tokens": ["t1"],
    "webhooks": {
      "stripe": {"scheme": "stripe", "secret": "whsec", "tolerance": "5m",
                 "transform": {"name": "stripe/${{ body.type }}", "data": "${{ body.data }}",
                               "id": "body.id"}},
      "open": {"scheme": "none", "transform": {"name": "open/event"}}},
    "secrets": {"env": ["CLERK_KEY"], "file": "secrets.yaml"},
    "retention": "30d", "max_event_bytes": 1048576, "workers": 4
  })json");
  EXPECT_THAT(violations, IsEmpty()) << Describe(violations);
  EXPECT_THAT(CheckConfig(R"({"secrets": {"env": "FLOWRUN_SECRET_"}})"), IsEmpty());
  EXPECT_THAT(CheckConfig("{}"), IsEmpty());
}

TEST(ConfigSchemaTest, Violations) {
  auto violations = CheckConfig(R"json({
    "lisen": "x",
    "store": "mysql://x",
    "databases": {"app": "app.db"},
    "smtp": {"url": "smtp://x", "starttls": "yes"},
    "webhooks": {"gh": {"scheme": "github"}},
    "retention": "a month"
  })json");
  EXPECT_THAT(
      violations,
      ElementsAre(Field(&SchemaViolation::message,
                        "invalid app \"app.db\": expected "
                        "sqlite:PATH or postgres://…"),
                  Field(&SchemaViolation::message, R"(unknown key "lisen" in config)"),
                  Field(&SchemaViolation::message,
                        "invalid retention \"a month\": expected a duration such as "
                        "30s, 15m, 72h or 7d"),
                  Field(&SchemaViolation::message,
                        R"(invalid starttls "yes": expected one of auto, required, off)"),
                  Field(&SchemaViolation::message,
                        "invalid store \"mysql://x\": expected sqlite:PATH or "
                        "postgres://…"),
                  Field(&SchemaViolation::message, R"(missing required key "secret" in webhook)")))
      << Describe(violations);
  EXPECT_EQ(violations[1].hint, R"(did you mean "listen"?)");
}

// `retention` is a duration or a mapping (oneOf): a value of either type is judged by its own
// alternative only, with no "expected a mapping" for a duration nor "child schema #0" noise.
TEST(ConfigSchemaTest, RetentionIsADurationOrAMappingOfDurations) {
  EXPECT_THAT(CheckConfig(R"({"retention": "7d"})"), IsEmpty());
  EXPECT_THAT(CheckConfig(R"({"retention": {"runs": "7d", "events": "2d", "outbox": "0s"}})"),
              IsEmpty());
  auto violations = CheckConfig(R"({"retention": {"runs": "a month", "evnts": "1d"}})");
  EXPECT_THAT(violations,
              ElementsAre(Field(&SchemaViolation::message, HasSubstr("unknown key \"evnts\"")),
                          Field(&SchemaViolation::message,
                                "invalid runs \"a month\": expected a duration such as 30s, "
                                "15m, 72h or 7d")))
      << Describe(violations);
}

}  // namespace
}  // namespace flowrun
