#include "flow/yaml_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "flow/yaml_event_reader.h"

namespace flowrun {
namespace {

// Counts the values in a JSON tree, for the node limit on alias expansion.
size_t CountNodes(const Json& value) {
  size_t count = 1;
  if (value.is_structured()) {
    for (const auto& child : value) count += CountNodes(child);
  }
  return count;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = text[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    unsigned char second = text[i + 1];
    if (second < low || second > high) return false;
    for (size_t k = 2; k <= extra; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) >> 6) != 0x2) return false;
    }
    i += extra + 1;
  }
  return true;
}

// Resolves a plain (unquoted) scalar by the YAML 1.2 core schema.
Json ResolvePlainScalar(std::string_view value) {
  if (value.empty()) return nullptr;
  // Nulls, booleans and numbers start with one of these; most values are plain words.
  if (std::string_view("~nNtTfF.+-0123456789").find(value[0]) == std::string_view::npos) {
    return std::string(value);
  }
  if (value == "~" || value == "null" || value == "Null" || value == "NULL") return nullptr;
  if (value == "true" || value == "True" || value == "TRUE") return true;
  if (value == "false" || value == "False" || value == "FALSE") return false;
  const std::string text(value);  // strtoll and strtod need the terminating NUL
  const char* begin = text.c_str();
  char* end = nullptr;
  bool digits_only = value.find_first_not_of("+-0123456789") == std::string_view::npos;
  if (digits_only && value.find_first_of("0123456789") != std::string_view::npos &&
      value.find_first_of("+-", 1) == std::string_view::npos) {
    errno = 0;
    long long n = std::strtoll(begin, &end, 10);
    if (errno == 0 && *end == '\0') return n;
  }
  if (value.size() > 2 && value[0] == '0' && (value[1] == 'x' || value[1] == 'o')) {
    bool hex = value[1] == 'x';
    std::string_view body = value.substr(2);
    if (body.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "01234567") ==
        std::string_view::npos) {
      errno = 0;
      long long n = std::strtoll(begin + 2, &end, hex ? 16 : 8);
      if (errno == 0 && *end == '\0') return n;
    }
  }
  if (value == ".inf" || value == ".Inf" || value == ".INF" || value == "+.inf" ||
      value == "-.inf" || value == ".nan" || value == ".NaN" || value == ".NAN") {
    // JSON has no infinities or NaN: keep the text, so nothing is silently changed.
    return text;
  }
  if (value.find_first_not_of("+-0123456789.eE") == std::string_view::npos &&
      value.find_first_of("0123456789") != std::string_view::npos) {
    errno = 0;
    double d = std::strtod(begin, &end);
    if (errno == 0 && *end == '\0' && std::isfinite(d)) return d;
  }
  return text;
}

// Builds JSON from the YAML events of a file, one frame per open mapping or sequence.
class JsonBuilder final : public YamlEventHandler {
 public:
  JsonBuilder(const SourceText& source, const LoadLimits& limits)
      : source_(source), limits_(limits) {}

  bool has_document() const { return has_document_; }
  Json TakeDocument() { return std::move(document_); }
  SourceMap TakePositions() { return std::move(positions_); }
  std::vector<Diagnostic> TakeDiagnostics() { return std::move(diagnostics_); }

  void OnEvent(const YamlEvent& event) override {
    // After a limit is exceeded the rest of the input is not worth building; it is still read,
    // since a syntax error further on is what the file's author needs to see first.
    if (aborted_) return;
    switch (event.type) {
      case YamlEvent::Type::kDocumentStart:
        if (++documents_ == 2) {
          Report(event.pos, "a flow file holds one YAML document; remove the second \"---\"",
                 "syntax");
        }
        break;
      case YamlEvent::Type::kScalar:
        OnScalar(event);
        break;
      case YamlEvent::Type::kAlias:
        OnAlias(event);
        break;
      case YamlEvent::Type::kSequenceStart:
        OpenFrame(event, Json::array());
        break;
      case YamlEvent::Type::kMappingStart:
        OpenFrame(event, Json::object());
        break;
      case YamlEvent::Type::kSequenceEnd:
      case YamlEvent::Type::kMappingEnd:
        CloseFrame();
        break;
    }
  }

 private:
  struct Frame {
    Json value;
    std::string pointer;
    SourcePos pos;
    std::string anchor;
    bool is_key = false;  // a mapping or sequence used as a mapping key
    // For mappings: the key waiting for its value.
    bool expecting_value = false;
    std::string pending_key;
    SourcePos pending_key_pos;
    bool skip_value = false;  // the pending key was invalid; drop its value
  };

  void OnScalar(const YamlEvent& event) {
    const bool plain = event.style == YamlEvent::Style::kPlain;
    Json resolved;
    // Plain scalars without a tag resolve by the core schema, and so do values tagged as one.
    if ((event.tag.empty() && plain) || event.tag == "tag:yaml.org,2002:int" ||
        event.tag == "tag:yaml.org,2002:float" || event.tag == "tag:yaml.org,2002:bool" ||
        event.tag == "tag:yaml.org,2002:null") {
      resolved = ResolvePlainScalar(event.value);
    } else {
      resolved = std::string(event.value);  // quoted, block, or tagged !!str
    }
    // The file is valid UTF-8, but an escape such as "\xFF" can still make a string that is not;
    // JSON cannot hold it.
    if (event.style == YamlEvent::Style::kDoubleQuoted && resolved.is_string() &&
        !IsValidUtf8(resolved.get_ref<const std::string&>())) {
      Report(event.pos, "this string is not valid UTF-8 (check its \\x escapes)", "syntax");
      resolved = std::string();
    }
    const bool merge_key = event.tag.empty() && plain && event.value == "<<";
    AddValue(event.pos, std::move(resolved), event.anchor, merge_key);
  }

  void OnAlias(const YamlEvent& event) {
    auto it = anchors_.find(std::string(event.anchor));
    if (it == anchors_.end()) {
      Report(event.pos, "alias refers to an unknown anchor", "syntax");
      AddValue(event.pos, nullptr, {}, false);
      return;
    }
    size_t nodes = CountNodes(it->second);
    if (!CountNode(event.pos, nodes)) return;
    AddValue(event.pos, it->second, {}, false, /*counted=*/true);
  }

  void Report(SourcePos pos, std::string message, std::string rule, std::string hint = "") {
    diagnostics_.push_back({source_.path(), pos, Severity::kError, std::move(message),
                            std::move(rule), std::move(hint)});
  }

  bool CountNode(SourcePos pos, size_t count) {
    nodes_ += count;
    if (nodes_ > limits_.max_nodes && !aborted_) {
      Report(pos,
             "the document expands to more than " + std::to_string(limits_.max_nodes) +
                 " values (an alias bomb?)",
             "limits");
      aborted_ = true;
    }
    return !aborted_;
  }

  // The pointer a new child of the innermost frame will have.
  std::string ChildPointer() const {
    if (stack_.empty()) return "";
    const Frame& parent = stack_.back();
    if (parent.value.is_array()) return JsonPointerAppend(parent.pointer, parent.value.size());
    return JsonPointerAppend(parent.pointer, parent.pending_key);
  }

  bool ParentExpectsKey() const {
    return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().expecting_value;
  }

  // The reader stops at nesting deeper than the limit, so the stack stays bounded.
  void OpenFrame(const YamlEvent& event, Json value) {
    if (!CountNode(event.pos, 1)) return;
    Frame frame;
    frame.pos = event.pos;
    frame.anchor = event.anchor;
    if (ParentExpectsKey()) {
      frame.is_key = true;
      ReportComplexKey(event.pos);
    } else {
      frame.pointer = ChildPointer();
    }
    frame.value = std::move(value);
    stack_.push_back(std::move(frame));
  }

  void ReportComplexKey(SourcePos pos) {
    // `to: {{ x }}` reads as a mapping whose key is the mapping `{x: null}`.
    const Frame& parent = stack_.back();
    size_t at = source_.Offset(parent.pos);
    bool template_like = at != std::string::npos && source_.text().compare(at, 2, "{{") == 0;
    if (template_like) {
      size_t close = source_.text().find("}}", at);
      std::string inner =
          close == std::string::npos ? "" : source_.text().substr(at + 2, close - at - 2);
      size_t b = inner.find_first_not_of(' '), e = inner.find_last_not_of(' ');
      inner = b == std::string::npos ? "expr" : inner.substr(b, e - b + 1);
      Report(parent.pos, "unquoted \"{{ " + inner + " }}\" was read by YAML as a mapping",
             "unquoted-template",
             "write an expression as a quoted string: \"${{ " + inner + " }}\"");
    } else {
      Report(pos, "mapping keys must be strings, not mappings or sequences", "syntax");
    }
  }

  void CloseFrame() {
    if (stack_.empty()) return;
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    if (!frame.anchor.empty()) anchors_[frame.anchor] = frame.value;
    if (frame.is_key) {
      // The complex key was reported; its value is dropped.
      Frame& parent = stack_.back();
      parent.expecting_value = true;
      parent.skip_value = true;
      return;
    }
    Attach(std::move(frame.value), frame.pos, std::move(frame.pointer));
  }

  // Adds a scalar or alias value. `merge_key` is set for a plain, untagged `<<`.
  void AddValue(SourcePos pos, Json value, std::string_view anchor, bool merge_key,
                bool counted = false) {
    if (!counted && !CountNode(pos, 1)) return;
    if (!anchor.empty()) anchors_[std::string(anchor)] = value;
    if (ParentExpectsKey()) {
      Frame& parent = stack_.back();
      parent.expecting_value = true;
      parent.skip_value = false;
      if (merge_key) {
        Report(pos, "YAML merge keys (<<) are not supported in flows", "merge-key",
               "spell the keys out, so each value is visible where it is used");
        parent.skip_value = true;
        return;
      }
      if (!value.is_string()) {
        // 1, true and null as keys: use their text, as most YAML readers would.
        value = value.is_null() ? std::string("null") : value.dump();
      }
      std::string key = value.get<std::string>();
      // A key's value is attached before the next key comes, so a repeated key is in the value.
      if (parent.value.contains(key)) {
        SourcePos first = positions_.KeyPosition(JsonPointerAppend(parent.pointer, key));
        Report(pos,
               "duplicate key \"" + key + "\" (first defined at line " +
                   std::to_string(first.line) + ")",
               "duplicate-key");
        parent.skip_value = true;
      }
      parent.pending_key = std::move(key);
      parent.pending_key_pos = pos;
      return;
    }
    Attach(std::move(value), pos, ChildPointer());
  }

  // Attaches a complete value to the innermost frame; `pointer` is ChildPointer() as it was
  // when the value began.
  void Attach(Json value, SourcePos pos, std::string pointer) {
    if (stack_.empty()) {
      positions_.Add(std::move(pointer), {}, pos);
      if (documents_ > 1) return;  // reported at the second document's start
      document_ = std::move(value);
      has_document_ = true;
      return;
    }
    Frame& parent = stack_.back();
    if (parent.value.is_array()) {
      positions_.Add(std::move(pointer), {}, pos);
      parent.value.push_back(std::move(value));
      return;
    }
    parent.expecting_value = false;
    if (parent.skip_value) {
      parent.skip_value = false;
      return;
    }
    positions_.Add(std::move(pointer), parent.pending_key_pos, pos);
    parent.value[parent.pending_key] = std::move(value);
  }

  const SourceText& source_;
  const LoadLimits& limits_;
  SourceMap positions_;
  std::vector<Diagnostic> diagnostics_;
  std::vector<Frame> stack_;
  std::unordered_map<std::string, Json> anchors_;
  Json document_;
  bool has_document_ = false;
  bool aborted_ = false;
  int documents_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

LoadedDocument LoadYaml(std::string path, std::string text, const LoadLimits& limits) {
  LoadedDocument result;
  result.source = SourceText(std::move(path), std::move(text));
  const std::string& input = result.source.text();
  auto report = [&](SourcePos pos, std::string message, std::string rule) {
    result.diagnostics.push_back(
        {result.source.path(), pos, Severity::kError, std::move(message), std::move(rule), ""});
  };
  if (input.size() > limits.max_bytes) {
    report({1, 1},
           "the file is " + std::to_string(input.size()) + " bytes; flows are limited to " +
               std::to_string(limits.max_bytes) + " bytes",
           "limits");
    return result;
  }
  if (size_t nul = input.find('\0'); nul != std::string::npos) {
    report(result.source.PositionOf(nul), "the file is binary, not YAML text", "syntax");
    return result;
  }
  if (!IsValidUtf8(input)) {
    report({1, 1}, "the file is not valid UTF-8 text", "syntax");
    return result;
  }
  // One read with libyaml is both the syntax check and the source of the document. Its syntax
  // error, if any, is the one diagnostic: what was built before it is discarded.
  JsonBuilder builder(result.source, limits);
  if (auto syntax = ReadYamlEvents(input, limits.max_depth, builder)) {
    result.diagnostics.push_back({result.source.path(), syntax->pos, Severity::kError,
                                  std::move(syntax->message), std::move(syntax->rule),
                                  std::move(syntax->hint)});
    return result;
  }
  result.positions = builder.TakePositions();
  result.diagnostics = builder.TakeDiagnostics();
  if (HasErrors(result.diagnostics)) return result;
  if (!builder.has_document()) {
    report({1, 1}, "the file is empty; a flow needs at least an id and steps", "syntax");
    return result;
  }
  result.document = builder.TakeDocument();
  if (!result.document.is_object()) {
    report(result.positions.ValuePosition(""),
           "a flow file must be a mapping with keys such as id, on and steps", "syntax");
  }
  return result;
}

LoadedDocument LoadYamlFile(const std::string& path, const LoadLimits& limits) {
  auto failure = [&](std::string message, std::string rule) {
    LoadedDocument result;
    result.source = SourceText(path, "");
    result.diagnostics.push_back(
        {path, {1, 1}, Severity::kError, std::move(message), std::move(rule), ""});
    return result;
  };
  // POSIX calls rather than a stream: one open, one fstat and a read or two per file, which
  // matters when `flowrun validate` checks thousands of files.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failure("cannot read the file: " + std::string(std::strerror(errno)), "io");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info;
  const bool stat_ok = ::fstat(fd, &info) == 0;
  if (stat_ok && S_ISDIR(info.st_mode)) return failure("is a directory, not a flow file", "io");
  const bool known_size = stat_ok && S_ISREG(info.st_mode);
  // Refuse an oversized file without reading it all.
  const size_t size = known_size ? static_cast<size_t>(info.st_size) : 0;
  if (known_size && size > limits.max_bytes) {
    return failure("the file is " + std::to_string(size) + " bytes; flows are limited to " +
                       std::to_string(limits.max_bytes) + " bytes",
                   "limits");
  }
  // Size the buffer by the file, not by the limit: zeroing the limit's 4 MiB for every small
  // file would dominate validation time. A file that grows while read is still cut at the limit.
  const size_t expected = known_size ? size : limits.max_bytes;
  std::string text(std::min(expected, limits.max_bytes) + 1, '\0');
  size_t filled = 0;
  while (filled < text.size()) {
    const ssize_t n = ::read(fd, text.data() + filled, text.size() - filled);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failure("cannot read the file: " + std::string(std::strerror(errno)), "io");
    if (n == 0) break;
    filled += static_cast<size_t>(n);
  }
  text.resize(filled);
  return LoadYaml(path, std::move(text), limits);
}

}  // namespace flowrun
