// The actions a `flowrun test` case runs against, in place of the real http, email and db:
//
//   MockHttpAction      answers each request from the case's http mocks (method and URL
//                       pattern, first match whose `times` is not used up); a request no mock
//                       matches fails its step for good and is reported as a case failure. A
//                       mock's `delay` passes on the case's virtual clock; past the attempt's
//                       deadline the attempt times out, as a slow server's would.
//   CapturingEmailAction keeps every message; nothing is sent.
//   CannedDbAction      answers statements that match a db mock, and passes every other one to
//                       the real db action on the case's scratch SQLite databases.
//
// Everything they saw goes to one TestRecorder, which the runner compares with the case's
// expectations. The actions answer on the calling thread, except the real db action (its pool).
//
// Thread-safety: Start may be called from many threads; the recorder is synchronized.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "actions/action.h"
#include "actions/db/db_action.h"
#include "common/simulated_clock.h"
#include "common/thread_annotations.h"
#include "flow/flow_test_file.h"

namespace flowrun::cli {

// What a case's actions saw, in the order they saw it.
class TestRecorder {
 public:
  void AddRequest(Json request);
  void AddEmail(Json email);
  void AddUnmatched(std::string description);
  std::vector<Json> requests() const;
  std::vector<Json> emails() const;
  std::vector<std::string> unmatched() const;

 private:
  mutable Mutex mu_;
  // {method, url, headers, json|body|form}
  std::vector<Json> requests_ FLOWRUN_GUARDED_BY(mu_);
  std::vector<Json> emails_ FLOWRUN_GUARDED_BY(mu_);            // the email step's arguments
  std::vector<std::string> unmatched_ FLOWRUN_GUARDED_BY(mu_);  // requests no mock answered
};

class MockHttpAction final : public Action {
 public:
  MockHttpAction(std::vector<HttpMock> mocks, SimulatedClock& clock, TestRecorder& recorder);
  std::string_view name() const override { return "http"; }
  void Start(ActionRequest request, ActionCallback done) override;

 private:
  StatusOr<Json> Answer(const ActionRequest& request);

  const std::vector<HttpMock> mocks_;
  SimulatedClock& clock_;
  TestRecorder& recorder_;
  Mutex mu_;
  std::vector<int> used_ FLOWRUN_GUARDED_BY(mu_);  // calls answered per mock
};

class CapturingEmailAction final : public Action {
 public:
  explicit CapturingEmailAction(TestRecorder& recorder) : recorder_(recorder) {}
  std::string_view name() const override { return "email"; }
  void Start(ActionRequest request, ActionCallback done) override;

 private:
  TestRecorder& recorder_;
};

class CannedDbAction final : public Action {
 public:
  // `real` runs what no mock answers; may be null when the case has no databases.
  CannedDbAction(std::vector<DbMock> mocks, std::unique_ptr<DbAction> real);
  std::string_view name() const override { return "db"; }
  void Start(ActionRequest request, ActionCallback done) override;

 private:
  const std::vector<DbMock> mocks_;
  const std::unique_ptr<DbAction> real_;
  Mutex mu_;
  std::vector<int> used_ FLOWRUN_GUARDED_BY(mu_);
};

// Collapses runs of whitespace to one space and trims the ends (for matching SQL).
std::string CollapseWhitespace(std::string_view text);

}  // namespace flowrun::cli
