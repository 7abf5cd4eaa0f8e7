#include "flow/yaml_loader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "testing/paths.h"

namespace flowrun {
namespace {

const Diagnostic* FindRule(const LoadedDocument& doc, std::string_view rule) {
  for (const auto& d : doc.diagnostics) {
    if (d.rule == rule) return &d;
  }
  return nullptr;
}

TEST(YamlLoaderTest, ConvertsScalarsByTheCoreSchema) {
  auto doc = LoadYaml("f.yaml",
                      "a: 1\nb: 2.5\nc: true\nd: null\ne: ~\nf: no\ng: \"1\"\nh: 0x1F\n"
                      "i: -7\nj: 1e3\nk: yes\nl:\nm: '2024-01-01'\n");
  ASSERT_TRUE(doc.diagnostics.empty()) << doc.diagnostics[0].message;
  EXPECT_EQ(doc.document["a"], 1);
  EXPECT_EQ(doc.document["b"], 2.5);
  EXPECT_EQ(doc.document["c"], true);
  EXPECT_TRUE(doc.document["d"].is_null());
  EXPECT_TRUE(doc.document["e"].is_null());
  EXPECT_EQ(doc.document["f"], "no");
  EXPECT_EQ(doc.document["g"], "1");
  EXPECT_EQ(doc.document["h"], 31);
  EXPECT_EQ(doc.document["i"], -7);
  EXPECT_EQ(doc.document["j"], 1000.0);
  EXPECT_EQ(doc.document["k"], "yes");
  EXPECT_TRUE(doc.document["l"].is_null());
  EXPECT_EQ(doc.document["m"], "2024-01-01");
}

TEST(YamlLoaderTest, RecordsKeyAndValuePositions) {
  auto doc =
      LoadYaml("f.yaml", "id: demo\nsteps:\n  - id: first\n    http:\n      url: \"https://x\"\n");
  ASSERT_TRUE(doc.diagnostics.empty());
  EXPECT_EQ(doc.positions.KeyPosition("/steps/0/http"), (SourcePos{4, 5}));
  EXPECT_EQ(doc.positions.ValuePosition("/steps/0/http/url"), (SourcePos{5, 12}));
  EXPECT_EQ(doc.positions.ValuePosition("/steps/0"), (SourcePos{3, 5}));
  // Unknown pointers fall back to the nearest ancestor.
  EXPECT_EQ(doc.positions.ValuePosition("/steps/0/http/url/nothing"), (SourcePos{5, 12}));
}

TEST(YamlLoaderTest, PositionInsideStrings) {
  auto doc = LoadYaml("f.yaml",
                      "a: plain ${{ x }}\nb: \"quoted ${{ y }}\"\nc: |\n  line one\n  two ${{ z "
                      "}}\n");
  ASSERT_TRUE(doc.diagnostics.empty());
  EXPECT_EQ(doc.positions.PositionInString("/a", 6, doc.source), (SourcePos{1, 10}));
  EXPECT_EQ(doc.positions.PositionInString("/b", 7, doc.source), (SourcePos{2, 12}));
  // "line one\ntwo ${{ z }}": offset 13 is the '$' on the second content line.
  EXPECT_EQ(doc.positions.PositionInString("/c", 13, doc.source), (SourcePos{5, 7}));
}

TEST(YamlLoaderTest, RejectsDuplicateKeys) {
  auto doc = LoadYaml("f.yaml", "id: a\nsteps: []\nid: b\n");
  const Diagnostic* d = FindRule(doc, "duplicate-key");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->pos, (SourcePos{3, 1}));
  EXPECT_NE(d->message.find("first defined at line 1"), std::string::npos);
}

TEST(YamlLoaderTest, RejectsMergeKeys) {
  auto doc = LoadYaml("f.yaml", "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n");
  const Diagnostic* d = FindRule(doc, "merge-key");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->pos, (SourcePos{3, 3}));
}

TEST(YamlLoaderTest, ExplainsUnquotedTemplates) {
  auto doc = LoadYaml("f.yaml", "email:\n  to: {{ steps.user.output.email }}\n");
  const Diagnostic* d = FindRule(doc, "unquoted-template");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->pos, (SourcePos{2, 7}));
  EXPECT_NE(d->hint.find("\"${{ steps.user.output.email }}\""), std::string::npos);
}

TEST(YamlLoaderTest, ReportsSyntaxErrorsWithPosition) {
  auto doc = LoadYaml("f.yaml", "id: a\nsteps: [\n");
  const Diagnostic* d = FindRule(doc, "syntax");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->pos.known());
}

TEST(YamlLoaderTest, RejectsNonMappingsAndEmptyFiles) {
  EXPECT_NE(FindRule(LoadYaml("f.yaml", "- a\n- b\n"), "syntax"), nullptr);
  EXPECT_NE(FindRule(LoadYaml("f.yaml", ""), "syntax"), nullptr);
  EXPECT_NE(FindRule(LoadYaml("f.yaml", "# only a comment\n"), "syntax"), nullptr);
  EXPECT_NE(FindRule(LoadYaml("f.yaml", "a: 1\n---\nb: 2\n"), "syntax"), nullptr);
}

TEST(YamlLoaderTest, StopsAliasBombsQuickly) {
  std::string bomb =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) bomb += std::string(i ? "," : "") + "*" + prev;
    bomb += "]\n";
    prev = c;
  }
  auto start = std::chrono::steady_clock::now();
  auto doc = LoadYaml("bomb.yaml", bomb);
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_NE(FindRule(doc, "limits"), nullptr);
  EXPECT_LT(elapsed, std::chrono::seconds(1));
}

TEST(YamlLoaderTest, LimitsDepth) {
  std::string deep(5000, '[');
  auto doc = LoadYaml("deep.yaml", "a: " + deep);
  EXPECT_FALSE(doc.diagnostics.empty());
  std::string nested;
  for (int i = 0; i < 100; ++i) nested += std::string(i * 2, ' ') + "k:\n";
  EXPECT_NE(FindRule(LoadYaml("nested.yaml", nested), "limits"), nullptr);
}

TEST(YamlLoaderTest, RefusesBinaryAndInvalidUtf8) {
  std::string binary("id: a\n\0\x01\x02", 9);
  EXPECT_NE(FindRule(LoadYaml("b.yaml", binary), "syntax"), nullptr);
  EXPECT_NE(FindRule(LoadYaml("b.yaml", "id: \xff\xfe\n"), "syntax"), nullptr);
  EXPECT_TRUE(LoadYaml("u.yaml", "id: caf\xc3\xa9 \xf0\x9f\x99\x82\n").diagnostics.empty());
  // Bytes above U+10FFFF, overlong forms and surrogates are not UTF-8 either.
  EXPECT_NE(FindRule(LoadYaml("b.yaml", "id: \xf6\x8c\x8b\x9a\n"), "syntax"), nullptr);
  EXPECT_NE(FindRule(LoadYaml("b.yaml", "id: \xc0\xaf\n"), "syntax"), nullptr);
  EXPECT_NE(FindRule(LoadYaml("b.yaml", "id: \xed\xa0\x80\n"), "syntax"), nullptr);
  // An escape can make invalid UTF-8 inside a valid file.
  EXPECT_NE(FindRule(LoadYaml("e.yaml", "id: \"a\\uD800\"\n"), "syntax"), nullptr);
}

TEST(YamlLoaderTest, RefusesOversizedFilesWithoutReadingThem) {
  std::string dir = testing::MakeTempDir();
  std::string path = dir + "/huge.yaml";
  {
    std::ofstream out(path);
    std::string line = "key: value value value value value value value value value\n";
    for (size_t written = 0; written < (50u << 20); written += line.size()) out << line;
  }
  auto start = std::chrono::steady_clock::now();
  auto doc = LoadYamlFile(path);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  const Diagnostic* d = FindRule(doc, "limits");
  ASSERT_NE(d, nullptr);
  EXPECT_NE(d->message.find("bytes"), std::string::npos);
}

TEST(YamlLoaderTest, ReportsUnreadableFiles) {
  EXPECT_NE(FindRule(LoadYamlFile("/nonexistent/flow.yaml"), "io"), nullptr);
  EXPECT_NE(FindRule(LoadYamlFile(testing::MakeTempDir()), "io"), nullptr);
}

}  // namespace
}  // namespace flowrun
