#include "flow/source.h"

#include <algorithm>

namespace flowrun {

SourceText::SourceText(std::string path, std::string text)
    : path_(std::move(path)), text_(std::move(text)) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
  }
}

std::string_view SourceText::Line(int line) const {
  if (line < 1 || static_cast<size_t>(line) > line_starts_.size()) return {};
  size_t begin = line_starts_[line - 1];
  size_t end = text_.find('\n', begin);
  if (end == std::string::npos) end = text_.size();
  if (end > begin && text_[end - 1] == '\r') --end;
  return std::string_view(text_).substr(begin, end - begin);
}

size_t SourceText::Offset(SourcePos pos) const {
  if (pos.line < 1 || static_cast<size_t>(pos.line) > line_starts_.size() || pos.column < 1) {
    return std::string::npos;
  }
  size_t offset = line_starts_[pos.line - 1] + pos.column - 1;
  return offset <= text_.size() ? offset : std::string::npos;
}

SourcePos SourceText::PositionOf(size_t offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  int line = static_cast<int>(it - line_starts_.begin());
  return {line, static_cast<int>(offset - line_starts_[line - 1]) + 1};
}

void SourceMap::Add(std::string pointer, SourcePos key, SourcePos value) {
  entries_[std::move(pointer)] = {key, value};
}

const SourceMap::Entry* SourceMap::Find(std::string_view pointer) const {
  while (true) {
    auto it = entries_.find(pointer);
    if (it != entries_.end()) return &it->second;
    if (pointer.empty()) return nullptr;
    size_t slash = pointer.rfind('/');
    pointer = slash == std::string_view::npos ? std::string_view() : pointer.substr(0, slash);
  }
}

SourcePos SourceMap::KeyPosition(std::string_view pointer) const {
  const Entry* entry = Find(pointer);
  if (!entry) return {};
  return entry->key.known() ? entry->key : entry->value;
}

SourcePos SourceMap::ValuePosition(std::string_view pointer) const {
  const Entry* entry = Find(pointer);
  return entry ? entry->value : SourcePos{};
}

SourcePos SourceMap::PositionInString(std::string_view pointer, size_t offset,
                                      const SourceText& text) const {
  SourcePos start = ValuePosition(pointer);
  size_t begin = text.Offset(start);
  if (begin == std::string::npos || begin >= text.text().size()) return start;
  const std::string& src = text.text();
  char first = src[begin];
  if (first == '"' || first == '\'') {
    // Quoted on one line: the content starts after the quote. Escapes shift columns slightly;
    // the position stays on the right line.
    return {start.line, start.column + 1 + static_cast<int>(offset)};
  }
  if (first == '|' || first == '>') {
    // Block scalar: content lines follow, each with the block's indentation removed.
    int line = start.line + 1;
    while (static_cast<size_t>(line) <= src.size() &&
           text.Line(line).find_first_not_of(' ') == std::string_view::npos) {
      if (text.Line(line).empty() && text.Offset({line, 1}) == std::string::npos) return start;
      ++line;
    }
    std::string_view first_line = text.Line(line);
    size_t indent = first_line.find_first_not_of(' ');
    if (indent == std::string_view::npos) return start;
    size_t remaining = offset;
    for (int l = line;; ++l) {
      std::string_view content = text.Line(l);
      if (text.Offset({l, 1}) == std::string::npos) return start;
      size_t length = content.size() > indent ? content.size() - indent : 0;
      if (remaining <= length) return {l, static_cast<int>(indent + remaining) + 1};
      remaining -= length + 1;  // the line break
    }
  }
  // Plain scalar on one line.
  return {start.line, start.column + static_cast<int>(offset)};
}

std::string JsonPointerAppend(std::string_view pointer, std::string_view token) {
  std::string out(pointer);
  out += '/';
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string JsonPointerAppend(std::string_view pointer, size_t index) {
  return std::string(pointer) + "/" + std::to_string(index);
}

}  // namespace flowrun
