// `flowrun validate` as CI runs it: the built binary, real files, exit codes and output formats.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/json.h"
#include "testing/paths.h"
#include "testing/subprocess.h"

namespace flowrun {
namespace {

using testing::FlowrunBinary;
using testing::MakeTempDir;
using testing::RunProcess;

void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

const char* kValidFlow = "id: ok\nsteps:\n  - id: a\n    log: hi\n";
const char* kInvalidFlow = "id: bad\nsteps:\n  - id: a\n    iff: true\n    log: hi\n";

TEST(ValidateCommandTest, ValidFlowsExitZero) {
  std::string dir = MakeTempDir();
  WriteFile(dir + "/a.yaml", kValidFlow);
  WriteFile(dir + "/nested/b.yml", "id: other\nsteps: [{id: a, log: hi}]\n");
  auto result = RunProcess({FlowrunBinary(), "validate", dir});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("2 flow(s): no problems"), std::string::npos) << result.err;
}

// What serve refuses when it compiles a flow, validate refuses too: a folded subject that kept a
// line break, a URL scheme other than http(s), SQL with templates, a host the config denies.
TEST(ValidateCommandTest, ActionArgumentsAreCheckedAsServeChecksThem) {
  std::string dir = MakeTempDir();
  WriteFile(dir + "/flows/a.yaml",
            "id: a\non: {event: a/b}\nsteps:\n"
            "  - id: mail\n    email:\n      to: a@example.com\n      subject: >-\n"
            "        Hello ${{ event.data.x }}\n          indented, so the line break stays\n"
            "  - id: call\n    http: {url: \"ftp://files.example.com/${{ event.data.p }}\"}\n"
            "  - id: q\n    db: {database: app, sql: \"SELECT ${{ event.data.t }}\"}\n"
            "  - id: crm\n    http: {url: \"https://crm.internal/hook\"}\n");
  auto result = RunProcess({FlowrunBinary(), "validate", dir + "/flows"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("a.yaml:5:5: error: subject contains CR or LF"), std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("a.yaml:11:5: error: url scheme \"ftp\" is not allowed"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("a.yaml:13:5: error: sql must not contain ${{ }} templates"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(result.out.find("crm.internal"), std::string::npos) << result.out;

  WriteFile(
      dir + "/flowrun.yaml",
      "flows: flows\ndatabases: {app: 'sqlite:app.db'}\nhttp: {deny_hosts: [crm.internal]}\n");
  auto with_config =
      RunProcess({FlowrunBinary(), "validate", "--config", dir + "/flowrun.yaml", dir + "/flows"});
  EXPECT_EQ(with_config.exit_code, 1);
  EXPECT_NE(with_config.out.find("host \"crm.internal\" is not allowed"), std::string::npos)
      << with_config.out;
}

TEST(ValidateCommandTest, TextFormatShowsLocationRuleSourceLineCaretAndHint) {
  std::string dir = MakeTempDir();
  WriteFile(dir + "/bad.yaml", kInvalidFlow);
  auto result = RunProcess({FlowrunBinary(), "validate", "bad.yaml"}, dir);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out,
            "bad.yaml:4:5: error: unknown key \"iff\" in step \"a\" [unknown-key]\n"
            "  |\n"
            "4 |     iff: true\n"
            "  |     ^\n"
            "  hint: did you mean \"if\"?\n");
}

TEST(ValidateCommandTest, JsonFormat) {
  std::string dir = MakeTempDir();
  WriteFile(dir + "/bad.yaml", kInvalidFlow);
  auto result = RunProcess({FlowrunBinary(), "validate", "--format", "json", "bad.yaml"}, dir);
  EXPECT_EQ(result.exit_code, 1);
  Json list = Json::parse(result.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["path"], "bad.yaml");
  EXPECT_EQ(list[0]["line"], 4);
  EXPECT_EQ(list[0]["column"], 5);
  EXPECT_EQ(list[0]["rule"], "unknown-key");
  EXPECT_EQ(list[0]["severity"], "error");
}

TEST(ValidateCommandTest, GithubFormat) {
  std::string dir = MakeTempDir();
  WriteFile(dir + "/bad.yaml", kInvalidFlow);
  auto result = RunProcess({FlowrunBinary(), "validate", "--format", "github", "bad.yaml"}, dir);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out,
            "::error file=bad.yaml,line=4,col=5,title=unknown-key::unknown key \"iff\" in step "
            "\"a\" (did you mean \"if\"?)\n");
}

TEST(ValidateCommandTest, DuplicateFlowIdsAcrossFiles) {
  std::string dir = MakeTempDir();
  WriteFile(dir + "/a.yaml", kValidFlow);
  WriteFile(dir + "/b.yaml", kValidFlow);
  auto result = RunProcess({FlowrunBinary(), "validate", "."}, dir);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("./b.yaml:1:5: error: flow id \"ok\" is already defined in ./a.yaml:1"),
            std::string::npos)
      << result.out;
  EXPECT_NE(result.out.find("[duplicate-flow-id]"), std::string::npos);
}

TEST(ValidateCommandTest, ChecksConfigFilesAgainstTheConfigSchema) {
  std::string dir = MakeTempDir();
  WriteFile(dir + "/flows/a.yaml", kValidFlow);
  WriteFile(dir + "/flowrun.yaml", "listen: 127.0.0.1:8288\nstroe: sqlite:x.db\n");
  auto result = RunProcess({FlowrunBinary(), "validate", "."}, dir);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.out.find("./flowrun.yaml:2:1: error: unknown key \"stroe\""), std::string::npos)
      << result.out;
}

TEST(ValidateCommandTest, UsageAndIoErrorsExitTwo) {
  std::string dir = MakeTempDir();
  auto missing = RunProcess({FlowrunBinary(), "validate", dir + "/missing"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no such file or directory"), std::string::npos);

  std::filesystem::create_directories(dir + "/empty/sub");
  WriteFile(dir + "/empty/notes.txt", "not a flow");
  auto empty = RunProcess({FlowrunBinary(), "validate", dir + "/empty"});
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_NE(empty.err.find("no flow files"), std::string::npos) << empty.err;

  std::filesystem::create_symlink(dir + "/nowhere.yaml", dir + "/dangling.yaml");
  auto dangling = RunProcess({FlowrunBinary(), "validate", dir + "/dangling.yaml"});
  EXPECT_EQ(dangling.exit_code, 2);

  auto bad_flag = RunProcess({FlowrunBinary(), "validate", "--format", "xml", dir});
  EXPECT_EQ(bad_flag.exit_code, 2);
}

// Each hostile file gets a clear error within a second: never a crash or a hang.
TEST(ValidateCommandTest, HostileFilesFailFastAndClearly) {
  std::string dir = MakeTempDir();
  {
    std::ofstream out(dir + "/huge.yaml");
    std::string line = "- some: value value value value value value value value value value\n";
    for (size_t written = 0; written < (50u << 20); written += line.size()) out << line;
  }
  std::string bomb = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 9; ++i) bomb += std::string(i ? "," : "") + "*" + prev;
    bomb += "]\n";
    prev = c;
  }
  WriteFile(dir + "/bomb.yaml", bomb);
  std::string garbage(4096, '\0');
  std::mt19937 random(42);
  for (char& c : garbage) c = static_cast<char>(random());
  WriteFile(dir + "/garbage.yaml", garbage);
  WriteFile(dir + "/deep.yaml", "a: " + std::string(100000, '['));

  struct Case {
    const char* file;
    const char* rule;
  };
  for (const Case& c : {Case{"huge.yaml", "[limits]"}, Case{"bomb.yaml", "[limits]"},
                        Case{"garbage.yaml", "[syntax]"}, Case{"deep.yaml", "[limits]"}}) {
    SCOPED_TRACE(c.file);
    auto start = std::chrono::steady_clock::now();
    auto result = RunProcess({FlowrunBinary(), "validate", c.file}, dir);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    EXPECT_NE(result.out.find(c.rule), std::string::npos) << result.out;
  }
}

TEST(ValidateCommandTest, BundledFlowsAndExamplesAreValid) {
  auto result =
      RunProcess({FlowrunBinary(), "validate", "flows", "examples"}, testing::SourceDir());
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
}

TEST(SchemaCommandTest, PrintsTheFlowSchema) {
  auto result = RunProcess({FlowrunBinary(), "schema"});
  EXPECT_EQ(result.exit_code, 0);
  Json schema = Json::parse(result.out);
  EXPECT_EQ(schema["$schema"], "http://json-schema.org/draft-07/schema#");
}

TEST(GraphCommandTest, DrawsMermaidAndDot) {
  std::string dir = MakeTempDir();
  WriteFile(dir + "/f.yaml", R"(id: g
on: {event: a/b}
steps:
  - id: wait
    wait_for_event: {event: c/d, match: data.x, timeout: 1h}
  - id: route
    switch:
      cases:
        - when: steps.wait.output != null
          steps:
            - id: yes
              log: yes
      default:
        - id: nap
          sleep: 1h
)");
  auto mermaid = RunProcess({FlowrunBinary(), "graph", dir + "/f.yaml"});
  EXPECT_EQ(mermaid.exit_code, 0) << mermaid.err;
  EXPECT_NE(mermaid.out.find("flowchart TD"), std::string::npos);
  EXPECT_NE(mermaid.out.find("{{\"wait: wait for c/d (1h)\"}}"), std::string::npos) << mermaid.out;
  EXPECT_NE(mermaid.out.find("|\"steps.wait.output != null\"|"), std::string::npos);
  EXPECT_NE(mermaid.out.find("([\"nap: sleep 1h\"])"), std::string::npos);
  auto dot = RunProcess({FlowrunBinary(), "graph", "--format", "dot", dir + "/f.yaml"});
  EXPECT_EQ(dot.exit_code, 0);
  EXPECT_NE(dot.out.find("digraph \"g\""), std::string::npos);
  EXPECT_NE(dot.out.find("shape=\"hexagon\""), std::string::npos);
  auto by_id = RunProcess({FlowrunBinary(), "graph", "--flows", dir, "g"});
  EXPECT_EQ(by_id.exit_code, 0);
  EXPECT_EQ(by_id.out, mermaid.out);
  auto unknown = RunProcess({FlowrunBinary(), "graph", "--flows", dir, "nope"});
  EXPECT_EQ(unknown.exit_code, 2);
}

}  // namespace
}  // namespace flowrun
