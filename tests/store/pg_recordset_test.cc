// PgRecordset and AppendJsonString: the JSON text that json_to_recordset reads, written without a
// Json tree. Checked against nlohmann's parser for every ASCII byte and hostile strings, and
// through a real PostgreSQL server, which must read every string back byte for byte and refuse
// NUL and invalid UTF-8 with an error.
#include "store/pg_recordset.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "store/pg_connection.h"
#include "testing/store_kinds.h"

namespace flowrun::store {
namespace {

std::vector<std::string> HostileStrings() {
  std::vector<std::string> strings = {"",
                                      "plain",
                                      "\"quoted\"",
                                      "back\\slash",
                                      "\\\"",
                                      "new\nline\r\ttab",
                                      "\x7f delete",
                                      "ünïcödé",
                                      "日本語",
                                      "emoji \xF0\x9F\x98\x80",
                                      "\\u0041 not an escape",
                                      "]}{[,:",
                                      "</script>"};
  std::string every_ascii;
  for (int c = 1; c < 128; ++c) every_ascii.push_back(static_cast<char>(c));
  strings.push_back(every_ascii);
  strings.push_back(std::string(100 * 1024, '"'));
  return strings;
}

TEST(AppendJsonStringTest, EveryAsciiByteAndNulParseBackToTheSameString) {
  for (int c = 0; c < 128; ++c) {
    const std::string value = std::string("a") + static_cast<char>(c) + "b";
    std::string text;
    AppendJsonString(text, value);
    EXPECT_EQ(Json::parse(text).get<std::string>(), value) << "byte " << c << ": " << text;
  }
}

TEST(AppendJsonStringTest, ControlCharactersAreEscapedAndOtherBytesCopied) {
  std::string text;
  AppendJsonString(text, std::string("\0\x01\x1f\n\"\\é", 8));
  EXPECT_EQ(text, "\"\\u0000\\u0001\\u001f\\n\\\"\\\\é\"");
}

TEST(AppendJsonStringTest, HostileStringsParseBack) {
  for (const std::string& value : HostileStrings()) {
    std::string text;
    AppendJsonString(text, value);
    EXPECT_EQ(Json::parse(text).get<std::string>(), value) << value.substr(0, 40);
  }
}

TEST(PgRecordsetTest, RowsHoldEveryKindOfField) {
  PgRecordset rows;
  rows.Row();
  rows.Text("t", "a\"b");
  rows.TextOrNull("empty", "");
  rows.TextOrNull("full", "x");
  rows.Int("n", -9007199254740993LL);
  rows.Bool("yes", true);
  rows.Bool("no", false);
  rows.MillisOrNull("none", std::nullopt);
  rows.MillisOrNull("at", TimePoint(std::chrono::milliseconds(1796658931318)));
  rows.Dump("doc", Json{{"k", "v\n"}, {"list", {1, 2}}});
  rows.DumpOrNull("null_doc", Json());
  rows.Dump("null_doc_as_text", Json());
  rows.Row();
  rows.Row();
  rows.Int("only", 1);
  const Json parsed = Json::parse(std::move(rows).Finish());
  ASSERT_EQ(parsed.size(), 3u);
  const Json& first = parsed[0];
  EXPECT_EQ(first["t"], "a\"b");
  EXPECT_TRUE(first["empty"].is_null());
  EXPECT_EQ(first["full"], "x");
  EXPECT_EQ(first["n"].get<int64_t>(), -9007199254740993LL);
  EXPECT_EQ(first["yes"], true);
  EXPECT_EQ(first["no"], false);
  EXPECT_TRUE(first["none"].is_null());
  EXPECT_EQ(first["at"].get<int64_t>(), 1796658931318);
  EXPECT_EQ(Json::parse(first["doc"].get<std::string>()), (Json{{"k", "v\n"}, {"list", {1, 2}}}));
  EXPECT_TRUE(first["null_doc"].is_null());
  EXPECT_EQ(first["null_doc_as_text"], "null");
  EXPECT_EQ(parsed[1], Json::object());
  EXPECT_EQ(parsed[2], (Json{{"only", 1}}));
}

TEST(PgRecordsetTest, ABuilderGivenDumpsWritesTheSameTextAsOneWithout) {
  const Json doc = Json{{"k", "v\n\"q\""}, {"list", {1, 2}}, {"nul", std::string("a\0b", 3)}};
  const Json other = Json{{"x", 1}};
  const Json null;
  PgDumps first;
  first.Add(doc);
  first.Add(null);  // nothing to dump: a null goes as null
  PgDumps dumps;
  dumps.Merge(std::move(first));
  auto build = [&](const PgDumps* given) {
    PgRecordset rows(given);
    rows.Row();
    rows.Dump("doc", doc);
    rows.DumpOrNull("other", other);  // not among the dumps: dumped here
    rows.DumpOrNull("none", null);
    rows.Dump("null_as_text", null);
    return std::move(rows).Finish();
  };
  EXPECT_EQ(build(&dumps), build(nullptr));
  ASSERT_NE(dumps.Find(doc), nullptr);
  EXPECT_EQ(dumps.Find(other), nullptr);
  EXPECT_EQ(dumps.Find(null), nullptr);
}

TEST(PgRecordsetTest, ADumpedValueIsCopiedFromItsDumpNotDumpedAgain) {
  Json doc = Json{{"n", 1}};
  PgDumps dumps;
  dumps.Add(doc);
  doc["n"] = 2;  // breaks the contract on purpose: the text copied is the one dumped at Add
  PgRecordset rows(&dumps);
  rows.Row();
  rows.Dump("doc", doc);
  EXPECT_EQ(Json::parse(Json::parse(std::move(rows).Finish())[0]["doc"].get<std::string>()),
            (Json{{"n", 1}}));
}

TEST(PgRecordsetTest, NoRowsIsAnEmptyArray) {
  EXPECT_EQ(PgRecordset().Finish(), "[]");
  EXPECT_EQ(PgJsonTextArray({}), "[]");
  EXPECT_EQ(PgJsonTextArray({"a", "b\"c"}), "[\"a\",\"b\\\"c\"]");
}

class PgRecordsetServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = FreshPostgresConnection();
    ASSERT_NE(db_, nullptr);
  }

  // The rows of json_to_recordset over `rows`, in order: s, n and b as text.
  StatusOr<PgResult> Read(PgRecordset rows) {
    return db_->Exec(
        "SELECT r.s, r.n, r.b FROM ROWS FROM (json_to_recordset($1::json) AS (s text, n bigint, b "
        "boolean)) WITH ORDINALITY AS r(s, n, b, i) ORDER BY r.i",
        {std::move(rows).Finish()});
  }

  std::unique_ptr<PgConnection> db_;
};

TEST_F(PgRecordsetServerTest, TheServerReadsEveryStringBackByteForByte) {
  const std::vector<std::string> strings = HostileStrings();
  PgRecordset rows;
  for (size_t i = 0; i < strings.size(); ++i) {
    rows.Row();
    rows.Text("s", strings[i]);
    rows.Int("n", static_cast<int64_t>(i));
    rows.Bool("b", i % 2 == 0);
  }
  auto result = Read(std::move(rows));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->rows(), static_cast<int>(strings.size()));
  for (size_t i = 0; i < strings.size(); ++i) {
    EXPECT_EQ(result->Text(i, 0), strings[i]) << "row " << i;
    EXPECT_EQ(result->Int(i, 1), static_cast<int64_t>(i));
    EXPECT_EQ(result->Text(i, 2), i % 2 == 0 ? "t" : "f");
  }
}

TEST_F(PgRecordsetServerTest, NullsAreSqlNulls) {
  PgRecordset rows;
  rows.Row();
  rows.TextOrNull("s", "");
  rows.MillisOrNull("n", std::nullopt);
  auto result = Read(std::move(rows));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->rows(), 1);
  EXPECT_TRUE(result->IsNull(0, 0));
  EXPECT_TRUE(result->IsNull(0, 1));
  EXPECT_TRUE(result->IsNull(0, 2));
}

TEST_F(PgRecordsetServerTest, NulAndInvalidUtf8AreRefusedAndTheConnectionStaysUsable) {
  for (const std::string& bad :
       {std::string("a\0b", 3), std::string("bad \xC3\x28 byte"), std::string("cut \xE6\x97")}) {
    PgRecordset rows;
    rows.Row();
    rows.Text("s", bad);
    EXPECT_FALSE(Read(std::move(rows)).ok()) << bad;
  }
  PgRecordset good;
  good.Row();
  good.Text("s", "fine");
  auto result = Read(std::move(good));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->Text(0, 0), "fine");
}

}  // namespace
}  // namespace flowrun::store
