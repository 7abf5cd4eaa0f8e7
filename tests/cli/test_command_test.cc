// `flowrun test` as a user runs it: the built binary on test files written for it, in a temp
// directory. Covers each mock kind, virtual time with waits and timeouts, every output format,
// coverage, exit codes, and bad test files.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/json.h"
#include "testing/paths.h"
#include "testing/subprocess.h"

namespace flowrun {
namespace {

using testing::RunProcess;

constexpr const char* kOrderFlow = R"(id: order
on:
  - event: shop/order.paid
    if: event.data.total > 0
steps:
  - id: customer
    http:
      url: "https://crm.example.com/customers/${{ event.data.customer }}"
      headers: {Authorization: "Bearer ${{ secrets.CRM_KEY }}"}
      query: {expand: orders}
  - id: reserve
    db:
      database: shop
      sql: UPDATE stock SET reserved = reserved + 1 WHERE sku = :sku
      params: {sku: "${{ event.data.sku }}"}
  - id: price
    db:
      database: shop
      sql: SELECT price FROM prices WHERE sku = :sku
      params: {sku: "${{ event.data.sku }}"}
  - id: label
    invoke: {flow: shipping-label, data: {order: "${{ event.data.order }}"}}
  - id: confirm
    email:
      to: "${{ steps.customer.output.body.email }}"
      subject: "Order ${{ event.data.order }} confirmed"
      text: "Label ${{ steps.label.output.label }}"
  - id: delivered
    wait_for_event: {event: shop/delivered, match: data.order, timeout: 72h}
  - id: review
    if: steps.delivered.output != null
    email: {to: "${{ steps.customer.output.body.email }}", subject: "How was it?"}
  - id: done
    return:
      delivered: "${{ steps.delivered.output != null }}"
      price: "${{ steps.price.output.rows[0].price }}"
)";

constexpr const char* kLabelFlow = R"(id: shipping-label
on:
  - event: shipping/label.requested
steps:
  - id: create
    http: {method: POST, url: "https://labels.example.com/labels", json: {order: "${{ event.data.order }}"}}
  - id: done
    return: {label: "${{ steps.create.output.body.id }}"}
)";

constexpr const char* kSchema = R"(CREATE TABLE stock (sku TEXT PRIMARY KEY, reserved INTEGER);
CREATE TABLE prices (sku TEXT PRIMARY KEY, price INTEGER);
)";

constexpr const char* kPassingTests = R"(flow: order
secrets: {CRM_KEY: crm-secret}
databases:
  shop:
    sql: shop.sql
    seed: INSERT INTO stock VALUES ('s1', 0);
mocks:
  http:
    - method: GET
      url: "https://crm.example.com/customers/*"
      respond: {json: {email: ana@example.com}, headers: {X-Trace: t1}}
    - method: POST
      url: https://labels.example.com/labels
      respond: {status: 201, json: {id: L-1}}
cases:
  - name: delivered orders get a review request
    event: {name: shop/order.paid, data: {order: o1, customer: c1, sku: s1, total: 5}}
    mocks:
      db:
        - {sql: "SELECT price FROM prices*", rows: [{price: 42}]}
    events:
      - after: 30h
        event: {name: shop/delivered, data: {order: o1}}
    expect:
      status: completed
      output: {delivered: true, price: 42}
      steps:
        customer: {status: completed, output: {status: 200, headers: {x-trace: t1}}}
        label: {status: completed, output: {label: L-1}}
        review: {status: completed}
      http:
        - {method: GET, url: "https://crm.example.com/customers/c1?expand=orders",
           headers: {Authorization: Bearer crm-secret}}
        - {method: POST, json: {order: o1}}
      emails:
        - {to: ana@example.com, subject: Order o1 confirmed, text: Label L-1}
        - {subject: "How was it?"}
      db:
        - query: SELECT reserved FROM stock WHERE sku = 's1'
          rows: [[1]]
  - name: undelivered orders time out after 72h
    event: {name: shop/order.paid, data: {order: o2, customer: c1, sku: s1, total: 5}}
    mocks:
      invoke:
        shipping-label: {output: {label: MOCKED}}
      db:
        - {sql: "SELECT price*", rows: []}
    expect:
      status: completed
      output: {delivered: false}
      steps:
        delivered: {status: completed, output: null}
        review: {status: skipped}
      emails:
        - {text: Label MOCKED}
  - name: a free order starts nothing
    event: {name: shop/order.paid, data: {order: o3, total: 0}}
    expect: {status: not_started}
)";

class TestCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    Write("order.yaml", kOrderFlow);
    Write("shipping-label.yaml", kLabelFlow);
    Write("shop.sql", kSchema);
  }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  testing::ProcessResult Test(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::FlowrunBinary(), "test"});
    return RunProcess(args, dir_);
  }

  std::string dir_;
};

TEST_F(TestCommandTest, PassingCasesExitZeroWithEveryMockKind) {
  Write("order.test.yaml", kPassingTests);
  auto r = Test({"order.test.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ok    delivered orders get a review request"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 passed, 0 failed"), std::string::npos) << r.out;
}

TEST_F(TestCommandTest, ADirectoryIsSearchedForTestFilesAndFlowsAreNotTests) {
  Write("order.test.yaml", kPassingTests);
  auto r = Test({});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("3 passed, 0 failed"), std::string::npos) << r.out;
}

TEST_F(TestCommandTest, AFailedExpectationIsLocatedWithADiff) {
  Write("order.test.yaml", R"(flow: order
secrets: {CRM_KEY: k}
databases: {shop: {sql: shop.sql}}
mocks:
  invoke: {shipping-label: {output: {label: X}}}
  http:
    - url: "https://crm.example.com/*"
      respond: {json: {email: ana@example.com}}
  db:
    - {sql: "*", rows: [{price: 1}]}
cases:
  - name: wrong expectations
    event: {name: shop/order.paid, data: {order: o1, customer: c1, sku: s1, total: 5}}
    expect:
      status: failed
      steps:
        review: {status: completed}
)");
  auto r = Test({"order.test.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("order.test.yaml:15:15: the run is completed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("order.test.yaml:17:26: step review is skipped"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("- \"failed\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("+ \"completed\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("0 passed, 1 failed"), std::string::npos) << r.out;
}

TEST_F(TestCommandTest, AnUnmockedRequestFailsTheCase) {
  Write("label.test.yaml", R"(flow: shipping-label
cases:
  - name: no mock
    event: {name: shipping/label.requested, data: {order: o1}}
    expect: {status: failed}
)");
  auto r = Test({"label.test.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("no http mock matches the request POST https://labels.example.com/labels"),
            std::string::npos)
      << r.out;
}

TEST_F(TestCommandTest, MocksAnswerInOrderWithStatusesDelaysAndErrors) {
  Write("label.test.yaml", R"(flow: shipping-label
cases:
  - name: retried through a refused connection, a 503 and a slow answer
    event: {name: shipping/label.requested, data: {order: o1}}
    mocks:
      http:
        - {url: "https://labels.example.com/*", times: 1, respond: {error: connection refused}}
        - {url: "https://labels.example.com/*", times: 1, respond: {status: 503, body: busy}}
        - {url: "https://labels.example.com/*", times: 1, respond: {delay: 10m, json: {id: late}}}
        - {url: "https://labels.example.com/*", respond: {delay: 2s, json: {id: L-9}}}
    expect:
      status: completed
      output: {label: L-9}
      steps:
        create: {attempts: 4}
  - name: a 404 is final
    event: {name: shipping/label.requested, data: {order: o1}}
    mocks:
      http:
        - {url: "https://labels.example.com/*", respond: {status: 404, body: no such order}}
    expect:
      status: failed
      error: unexpected status 404
      steps:
        create: {status: failed, attempts: 1, error: no such order}
)");
  auto r = Test({"label.test.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(TestCommandTest, EveryOutputFormat) {
  Write("order.test.yaml", kPassingTests);
  Write("label.test.yaml", R"(flow: shipping-label
cases:
  - name: fails
    event: {name: shipping/label.requested, data: {order: o1}}
    mocks:
      http: [{url: "*", respond: {json: {id: A}}}]
    expect: {output: {label: B}}
)");
  auto json = Test({"--format", "json", "."});
  EXPECT_EQ(json.exit_code, 1) << json.out << json.err;
  Json report = Json::parse(json.out);
  EXPECT_EQ(report["passed"], 3);
  EXPECT_EQ(report["failed"], 1);
  ASSERT_EQ(report["files"].size(), 2u);
  const Json& failure = report["files"][0]["cases"][0]["failures"][0];
  EXPECT_EQ(failure["line"], 7);
  EXPECT_NE(failure["expected"].get<std::string>().find("\"B\""), std::string::npos);

  auto junit = Test({"--format", "junit", "."});
  EXPECT_EQ(junit.exit_code, 1);
  EXPECT_NE(junit.out.find("<testsuites name=\"flowrun test\" tests=\"4\" failures=\"1\""),
            std::string::npos)
      << junit.out;
  EXPECT_NE(junit.out.find("<failure message=\"./label.test.yaml:7:"), std::string::npos)
      << junit.out;

  auto github = Test({"--format", "github", "."});
  EXPECT_EQ(github.exit_code, 1);
  EXPECT_NE(github.out.find("::error file=./label.test.yaml,line=7,col="), std::string::npos)
      << github.out;
  EXPECT_NE(github.out.find("3 passed, 1 failed"), std::string::npos);
}

TEST_F(TestCommandTest, CoverageListsStepsNoCaseExecuted) {
  Write("order.test.yaml", R"(flow: order
secrets: {CRM_KEY: k}
cases:
  - name: free
    event: {name: shop/order.paid, data: {total: 0}}
    expect: {status: not_started}
)");
  auto r = Test({"--coverage", "order.test.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("order: 0/8 steps executed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not executed: review (./order.yaml:30:5)"), std::string::npos) << r.out;
}

TEST_F(TestCommandTest, BadTestFilesAreLocatedAndExitTwo) {
  struct Bad {
    const char* text;
    const char* expected;
  };
  for (const Bad& bad : {
           Bad{"flow: order\ncases:\n  - name: x\n    evnt: {}\n", "bad.test.yaml:4:5"},
           Bad{"flow: order\ncases: \"open\n", "bad.test.yaml:3:1"},
           Bad{"flow: nope\ncases: []\n", "no flow \"nope\""},
           Bad{"flow: order\ncases:\n  - name: x\n    until: soon\n", "bad.test.yaml:4:12"},
           Bad{"cases: []\n", "missing required key \"flow\""},
           Bad{"flow: order\ncases:\n  - {name: a}\n  - {name: a}\n", "two cases are named"},
           Bad{"- just\n- a list\n", "bad.test.yaml:1:1"},
           Bad{"", "bad.test.yaml"},
       }) {
    Write("bad.test.yaml", bad.text);
    auto r = Test({"bad.test.yaml"});
    EXPECT_EQ(r.exit_code, 2) << bad.text << r.out << r.err;
    EXPECT_NE(r.out.find(bad.expected), std::string::npos) << bad.text << "\n" << r.out;
  }
}

TEST_F(TestCommandTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Test({"missing.test.yaml"}).exit_code, 2);
  EXPECT_EQ(Test({"--format", "xml", "."}).exit_code, 2);
  std::string empty = testing::MakeTempDir();
  EXPECT_EQ(Test({empty}).exit_code, 2);
}

TEST_F(TestCommandTest, AMissingSecretFailsTheStepNotAnEmptyString) {
  Write("order.test.yaml", R"(flow: order
cases:
  - name: no CRM_KEY
    event: {name: shop/order.paid, data: {order: o1, customer: c1, sku: s1, total: 5}}
    expect:
      status: failed
      steps:
        customer: {status: failed, error: secret "CRM_KEY" is not set}
      http: []
)");
  auto r = Test({"order.test.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST_F(TestCommandTest, LookbackAndTimeoutMayBeExpressions) {
  Write("late.yaml", R"(id: late
on:
  - event: a/start
steps:
  - id: nap
    sleep: 1h
  - id: seen
    wait_for_event:
      event: a/ping
      match: data.k
      timeout: "${{ event.data.timeout }}"
      lookback: "${{ event.data.window }}"
  - id: done
    return: {seen: "${{ steps.seen.output != null }}"}
)");
  Write("late.test.yaml", R"(flow: late
cases:
  - name: an event from before the wait is matched within the lookback
    event: {name: a/start, data: {k: 1, window: 2h, timeout: 5m}}
    events: [{after: 30m, event: {name: a/ping, data: {k: 1}}}]
    expect: {status: completed, output: {seen: true}}
  - name: outside the lookback it is not, and the wait times out
    event: {name: a/start, data: {k: 1, window: 10m, timeout: 5m}}
    events: [{after: 30m, event: {name: a/ping, data: {k: 1}}}]
    expect: {status: completed, output: {seen: false}}
)");
  auto r = Test({"late.test.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace flowrun
