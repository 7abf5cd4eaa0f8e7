// Where things are in a flow file: positions, the file's text, and the map from each JSON pointer
// of the loaded document to the line and column it came from.
//
// Thread-safety: immutable after loading; safe to read from many threads.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace flowrun {

// A 1-based line and column (in bytes). {0, 0} means unknown.
struct SourcePos {
  int line = 0;
  int column = 0;
  bool known() const { return line > 0; }
  friend bool operator==(const SourcePos&, const SourcePos&) = default;
};

// A file's path and text, with access to single lines for error excerpts.
class SourceText {
 public:
  SourceText() = default;
  SourceText(std::string path, std::string text);

  const std::string& path() const { return path_; }
  const std::string& text() const { return text_; }
  // The text of a 1-based line without its line break; empty when out of range.
  std::string_view Line(int line) const;
  // The byte offset of a position in text(), or npos when out of range.
  size_t Offset(SourcePos pos) const;
  // The position of a byte offset in text().
  SourcePos PositionOf(size_t offset) const;

 private:
  std::string path_;
  std::string text_;
  std::vector<size_t> line_starts_;
};

// Maps RFC 6901 JSON pointers ("/steps/0/http/url") to source positions. Lookups of a pointer
// that has no entry fall back to its nearest ancestor, so every error gets some position.
class SourceMap {
 public:
  // Records where the key of a mapping member begins (for members), and where its value begins.
  void Add(std::string pointer, SourcePos key, SourcePos value);

  // The position of the key naming `pointer` (for unknown-key errors); the value's position for
  // sequence items and the root.
  SourcePos KeyPosition(std::string_view pointer) const;
  // The position of the value at `pointer`.
  SourcePos ValuePosition(std::string_view pointer) const;

  // The position of byte `offset` inside the string value at `pointer`, accounting for quotes,
  // and for block scalars (| and >) whose content starts on the following lines. Falls back to
  // the value's position when the mapping cannot be made exactly (escapes, folded lines).
  SourcePos PositionInString(std::string_view pointer, size_t offset, const SourceText& text) const;

 private:
  struct Entry {
    SourcePos key;
    SourcePos value;
  };
  const Entry* Find(std::string_view pointer) const;
  std::map<std::string, Entry, std::less<>> entries_;
};

// Appends a reference token to a JSON pointer, escaping '~' and '/'.
std::string JsonPointerAppend(std::string_view pointer, std::string_view token);
std::string JsonPointerAppend(std::string_view pointer, size_t index);

}  // namespace flowrun
