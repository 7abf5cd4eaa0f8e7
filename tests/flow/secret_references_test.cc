#include "flow/secret_references.h"

#include <gtest/gtest.h>

namespace flowrun {
namespace {

TEST(SecretReferencesTest, FindsEveryFormWithItsStep) {
  Json doc = Json::parse(R"({
    "id": "f",
    "on": [{"event": "a", "if": "secrets.TRIGGER_FLAG == 'on'"}],
    "steps": [
      {"id": "call", "http": {"url": "https://x", "headers": {"A": "Bearer ${{ secrets.API_KEY }}"}}},
      {"id": "par", "parallel": {"branches": {"l": [
        {"id": "inner", "set": {"k": "${{ secrets[\"OTHER\"] }} ${{ mysecrets.NOT }} ${{ x.secrets.NO }}"}}
      ]}}}
    ]
  })");
  auto refs = FindSecretReferences(doc);
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(ReferencedSecretNames(doc),
            (std::set<std::string>{"API_KEY", "OTHER", "TRIGGER_FLAG"}));
  for (const auto& ref : refs) {
    if (ref.name == "API_KEY") EXPECT_EQ(StepIdAt(doc, ref.pointer), "call");
    if (ref.name == "OTHER") EXPECT_EQ(StepIdAt(doc, ref.pointer), "inner");
    if (ref.name == "TRIGGER_FLAG") EXPECT_EQ(StepIdAt(doc, ref.pointer), "");
  }
}

TEST(SecretReferencesTest, HostileTextIsScannedSafely) {
  Json doc = {{"a", "secrets"},
              {"b", "secrets."},
              {"c", "secrets[\"unterminated"},
              {"d", "secrets[x]"},
              {"e", std::string(100000, 's') + "secrets.X"}};
  EXPECT_EQ(ReferencedSecretNames(doc), (std::set<std::string>{}));
  EXPECT_EQ(StepIdAt(doc, "/nothing/5/~1x"), "");
  EXPECT_EQ(StepIdAt(doc, "/steps/99999999999999999999"), "");
}

}  // namespace
}  // namespace flowrun
