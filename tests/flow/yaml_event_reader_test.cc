#include "flow/yaml_event_reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flowrun {
namespace {

struct Recorded {
  YamlEvent::Type type;
  SourcePos pos;
  std::string anchor;
  std::string tag;
  std::string value;
  YamlEvent::Style style;
};

class Recorder final : public YamlEventHandler {
 public:
  void OnEvent(const YamlEvent& event) override {
    events.push_back({event.type, event.pos, std::string(event.anchor), std::string(event.tag),
                      std::string(event.value), event.style});
  }
  std::vector<Recorded> Scalars() const {
    std::vector<Recorded> scalars;
    for (const auto& e : events) {
      if (e.type == YamlEvent::Type::kScalar) scalars.push_back(e);
    }
    return scalars;
  }
  std::vector<Recorded> events;
};

TEST(YamlEventReaderTest, DeliversEventsInDocumentOrderWithPositions) {
  Recorder recorder;
  auto error =
      ReadYamlEvents("id: x\nsteps:\n  - &a {k: 'v'}\n  - *a\n  - !!int \"7\"\n", 64, recorder);
  ASSERT_FALSE(error.has_value()) << error->message;
  using T = YamlEvent::Type;
  std::vector<T> types;
  for (const auto& e : recorder.events) types.push_back(e.type);
  EXPECT_EQ(types, (std::vector<T>{T::kDocumentStart, T::kMappingStart, T::kScalar, T::kScalar,
                                   T::kScalar, T::kSequenceStart, T::kMappingStart, T::kScalar,
                                   T::kScalar, T::kMappingEnd, T::kAlias, T::kScalar,
                                   T::kSequenceEnd, T::kMappingEnd}));
  const auto& events = recorder.events;
  EXPECT_EQ(events[1].pos, (SourcePos{1, 1}));  // the mapping starts at its first key
  EXPECT_EQ(events[5].pos, (SourcePos{3, 3}));  // the sequence at its first '-'
  EXPECT_EQ(events[6].pos, (SourcePos{3, 5}));  // a node with an anchor starts at the anchor
  EXPECT_EQ(events[6].anchor, "a");
  EXPECT_EQ(events[8].value, "v");
  EXPECT_EQ(events[8].style, YamlEvent::Style::kSingleQuoted);
  EXPECT_EQ(events[10].anchor, "a");
  EXPECT_EQ(events[10].pos, (SourcePos{4, 5}));
  EXPECT_EQ(events[11].tag, "tag:yaml.org,2002:int");
  EXPECT_EQ(events[11].value, "7");
  EXPECT_EQ(events[11].style, YamlEvent::Style::kDoubleQuoted);
  EXPECT_EQ(events[2].style, YamlEvent::Style::kPlain);
  EXPECT_TRUE(events[2].tag.empty());
}

// Lines end at LF only and columns count bytes, whatever libyaml counts.
TEST(YamlEventReaderTest, PositionsCountBytesAfterMultiByteCharactersAndCarriageReturns) {
  Recorder recorder;
  ASSERT_FALSE(ReadYamlEvents("é: ü\r\nb: \"x\xE2\x80\xA8y\"\nc: 1\n", 64, recorder));
  auto scalars = recorder.Scalars();
  ASSERT_EQ(scalars.size(), 6u);
  EXPECT_EQ(scalars[1].pos, (SourcePos{1, 5}));  // 'é' is two bytes
  EXPECT_EQ(scalars[2].pos, (SourcePos{2, 1}));
  EXPECT_EQ(scalars[4].pos, (SourcePos{3, 1}));  // libyaml counts a line after LS
  EXPECT_EQ(scalars[5].pos, (SourcePos{3, 4}));
}

TEST(YamlEventReaderTest, ByteOrderMarkShiftsTheFirstLineByItsBytes) {
  Recorder recorder;
  ASSERT_FALSE(
      ReadYamlEvents("\xEF\xBB\xBF"
                     "a: 1\n",
                     64, recorder));
  auto scalars = recorder.Scalars();
  ASSERT_EQ(scalars.size(), 2u);
  EXPECT_EQ(scalars[0].value, "a");
  EXPECT_EQ(scalars[0].pos, (SourcePos{1, 4}));
}

// libyaml (YAML 1.1) stops a plain scalar in a flow collection at '?'; YAML 1.2 does not. The
// reader accepts such text, and every scalar keeps its '?' whatever its style.
TEST(YamlEventReaderTest, KeepsQuestionMarksInEveryKindOfScalar) {
  Recorder recorder;
  auto error = ReadYamlEvents(
      "e: {url: https://x.example/a?b=c, subject: Ready?}\n"
      "l: [a?b, 'it''s?', \"q?\\x71?\", \"multi\n  line?\"]\n"
      "block: | # really?\n  quick?\n  quiet q?\n"
      "plainq?: two?\n  lines?q\n",
      64, recorder);
  ASSERT_FALSE(error.has_value()) << error->message;
  std::vector<std::string> values;
  for (const auto& s : recorder.Scalars()) values.push_back(s.value);
  EXPECT_EQ(values,
            (std::vector<std::string>{"e", "url", "https://x.example/a?b=c", "subject", "Ready?",
                                      "l", "a?b", "it's?", "q?q?", "multi line?", "block",
                                      "quick?\nquiet q?\n", "plainq?", "two? lines?q"}));
}

TEST(YamlEventReaderTest, ReportsTheFirstSyntaxErrorWithAHint) {
  Recorder recorder;
  auto error = ReadYamlEvents("a: 1\nb: \"open\nc: 2\n", 64, recorder);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rule, "syntax");
  EXPECT_NE(error->hint.find("line 2, column 4"), std::string::npos) << error->hint;
  EXPECT_FALSE(recorder.events.empty());  // the events before the error were delivered
}

TEST(YamlEventReaderTest, StopsAtTheDepthLimit) {
  Recorder recorder;
  auto error = ReadYamlEvents("a: [[[[1]]]]\n", 3, recorder);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->rule, "limits");
  EXPECT_EQ(error->pos, (SourcePos{1, 6}));
  int starts = 0;
  for (const auto& e : recorder.events) {
    starts += e.type == YamlEvent::Type::kSequenceStart || e.type == YamlEvent::Type::kMappingStart;
  }
  EXPECT_EQ(starts, 3);
}

}  // namespace
}  // namespace flowrun
