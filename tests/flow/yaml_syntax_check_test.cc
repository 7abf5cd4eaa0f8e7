#include "flow/yaml_syntax_check.h"

#include <gtest/gtest.h>

#include <string>

#include "flow/yaml_loader.h"

namespace flowrun {
namespace {

// Error cases of the public YAML test suite (yaml/yaml-test-suite, tagged "error"), by id. Each
// must be rejected; yaml-cpp 0.7 accepts several of them. (libyaml 0.2.5 itself accepts X4QW and
// SU5Z, a `#` glued to a block scalar indicator or to a closing quote, so they are not listed.)
struct SuiteCase {
  const char* id;
  const char* yaml;
};

const SuiteCase kSuiteErrors[] = {
    // Unterminated double-quoted scalar at the end of the stream (yaml-cpp swallows the rest).
    {"unterminated-double-quote", "id: x\nsteps: \"open\n  - id: a\n    log: hi\n"},
    {"unterminated-single-quote", "key: 'open\n"},
    // 236B: invalid value after mapping.
    {"236B", "foo:\n  bar\ninvalid\n"},
    // 7LBH: multiline double-quoted implicit keys.
    {"7LBH", "\"a\\nb\": 1\n\"c\n d\": 1\n"},
    // 9CWY: invalid scalar at the end of a mapping (yaml-cpp issue 819).
    {"9CWY", "key:\n - item1\n - item2\ninvalid\n"},
    // ZVH3: wrong indented sequence item.
    {"ZVH3", "- key: value\n - item1\n"},
    // 4HVU: wrong indentation in a sequence.
    {"4HVU", "key:\n   - ok\n   - also ok\n  - wrong\n"},
    // ZCZ6: invalid mapping in a plain single-line value.
    {"ZCZ6", "a: b: c: d\n"},
    // ZL4Z: invalid nested mapping.
    {"ZL4Z", "---\na: 'b': c\n"},
    // 9MMA: directive by itself with no document.
    {"9MMA", "%YAML 1.2\n"},
    // CXX2: mapping with an anchor on the document start line.
    {"CXX2", "--- &anchor a: b\n"},
    // DK4H: implicit key followed by a newline.
    {"DK4H", "---\n[ key\n  : value ]\n"},
    // 9KBC: mapping starting at the --- line.
    {"9KBC", "--- key1: value1\n    key2: value2\n"},
    // 6JTT: flow sequence without the closing bracket.
    {"6JTT", "---\n[ [ a, b, c ]\n"},
    // C2SP: flow mapping key on two lines.
    {"C2SP", "[23\n]: 42\n"},
    // EW3V: wrong indentation in a mapping.
    {"EW3V", "k1: v1\n k2: v2\n"},
    // G9HC: an anchor in a wrong place (sequence indented below its key with an anchor).
    {"G9HC", "---\nseq:\n&anchor\n- a\n- b\n"},
    // RXY3: document end marker inside a single-quoted string.
    {"RXY3", "---\n'\n...\n'\n"},
};

TEST(YamlSyntaxCheckTest, RejectsEveryErrorCaseOfTheYamlTestSuite) {
  for (const SuiteCase& c : kSuiteErrors) {
    auto error = CheckYamlSyntax(c.yaml);
    ASSERT_TRUE(error.has_value()) << c.id << " was accepted";
    EXPECT_TRUE(error->pos.known()) << c.id;
    EXPECT_FALSE(error->message.empty()) << c.id;
    EXPECT_EQ(error->rule, "syntax") << c.id;
  }
}

TEST(YamlSyntaxCheckTest, AcceptsValidYaml) {
  for (const char* yaml : {"", "# only a comment\n", "id: x\nsteps:\n  - id: a\n    log: hi\n",
                           "a: \"${{ x }}\"\nb: |\n  text\n  more\nc: [1, {d: e}]\n",
                           "---\na: 1\n---\nb: 2\n", "a: &x 1\nb: *x\n",
                           // YAML 1.2 allows '?' inside plain scalars in flow collections.
                           "e: {url: https://x.example/a?b=c, subject: Ready?}\nl: [a?b, c]\n",
                           "? explicit key\n: value\n", "{? a: b}\n"}) {
    EXPECT_FALSE(CheckYamlSyntax(yaml).has_value()) << yaml;
  }
}

TEST(YamlSyntaxCheckTest, UnterminatedQuoteAtEndNamesWhereItOpens) {
  auto error = CheckYamlSyntax("id: x\nsteps:\n  - id: a\n    log: \"hello\n  - id: b\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->message.find("quoted scalar"), std::string::npos) << error->message;
  EXPECT_NE(error->hint.find("line 4, column 10"), std::string::npos) << error->hint;
}

TEST(YamlSyntaxCheckTest, TrailingBareScalarInABlockMappingHasItsLine) {
  auto error = CheckYamlSyntax("id: x\nsteps:\n  - id: a\n    log: hi\noops\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->pos.line, 6) << error->message;  // found at the end of the stream
  EXPECT_FALSE(error->hint.empty());
}

TEST(YamlSyntaxCheckTest, DeepNestingStopsAtTheLimit) {
  std::string deep(100000, '[');
  auto error = CheckYamlSyntax(deep, 64);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rule, "limits");
  EXPECT_EQ(error->pos, (SourcePos{1, 65}));
}

// libyaml also ends lines at a lone CR, NEL, LS and PS and counts columns in characters; the
// error is placed as the rest of flowrun numbers the text (lines end at LF, columns are bytes).
// Found by the fuzzer: 76 CRs then "[e" was reported at line 77 of a one-line file.
TEST(YamlSyntaxCheckTest, PositionsCountLinesAtLineFeedsAndColumnsInBytes) {
  auto error = CheckYamlSyntax(std::string(76, '\r') + "[e");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->pos.line, 1);
  EXPECT_EQ(error->pos.column, 79) << error->message;  // just past the end, where libyaml stopped
  // The quote never closes: the error is at the end, line 4 (libyaml counts a fifth, after LS).
  error = CheckYamlSyntax("a: 1\r\nb: \"é\xE2\x80\xA8x\nc: 2\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->pos, (SourcePos{4, 1})) << error->message;
  error = CheckYamlSyntax("k: \"é\nv: [1, 2\n");  // the quote is open to the end
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->hint.find("line 1, column 4"), std::string::npos) << error->hint;
  error = CheckYamlSyntax("é: [1, 2\n  - x\n");  // the flow list never closes: the end
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->pos, (SourcePos{3, 1})) << error->message;
}

TEST(YamlSyntaxCheckTest, HostileInputGivesAnErrorNotACrash) {
  for (std::string yaml :
       {std::string("\t- a\n"), std::string("*unknown\n"), std::string("a: !<tag\n"),
        std::string("%TAG ! \n---\n"), std::string("{a: [b, {c: \"d\n"), std::string(":\n:\n:"),
        std::string(1 << 20, '-'), std::string("? ") + std::string(5000, 'k')}) {
    (void)CheckYamlSyntax(yaml);  // must return, with or without an error
  }
}

TEST(YamlSyntaxCheckTest, LoaderReportsSyntaxErrorsYamlCppWouldAccept) {
  auto doc = LoadYaml("f.yaml", "id: x\nsteps:\n  - id: a\n    log: \"hello\n  - id: b\n");
  ASSERT_EQ(doc.diagnostics.size(), 1u);
  EXPECT_EQ(doc.diagnostics[0].rule, "syntax");
  EXPECT_EQ(doc.diagnostics[0].path, "f.yaml");
  EXPECT_FALSE(doc.diagnostics[0].hint.empty());
  auto bare = LoadYaml("f.yaml", "key:\n - item1\n - item2\ninvalid\n");
  ASSERT_EQ(bare.diagnostics.size(), 1u);
  EXPECT_EQ(bare.diagnostics[0].rule, "syntax");
}

}  // namespace
}  // namespace flowrun
