#include "flow/secret_references.h"

#include <cctype>

#include "flow/source.h"

namespace flowrun {
namespace {

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

void ScanString(const std::string& text, const std::string& pointer,
                std::vector<SecretReference>& out) {
  static constexpr std::string_view kRoot = "secrets";
  for (size_t at = text.find(kRoot); at != std::string::npos; at = text.find(kRoot, at + 1)) {
    if (at > 0 && (IsIdentChar(text[at - 1]) || text[at - 1] == '.')) continue;
    size_t i = at + kRoot.size();
    while (i < text.size() && text[i] == ' ') ++i;
    if (i >= text.size()) break;
    std::string name;
    if (text[i] == '.') {
      ++i;
      while (i < text.size() && text[i] == ' ') ++i;
      while (i < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) {
        name += text[i++];
      }
    } else if (text[i] == '[') {
      ++i;
      while (i < text.size() && text[i] == ' ') ++i;
      if (i >= text.size() || (text[i] != '"' && text[i] != '\'')) continue;
      const char quote = text[i++];
      size_t end = text.find(quote, i);
      if (end == std::string::npos) continue;
      name = text.substr(i, end - i);
    }
    if (!name.empty()) out.push_back({name, pointer});
  }
}

void Scan(const Json& value, const std::string& pointer, std::vector<SecretReference>& out) {
  if (value.is_string()) {
    ScanString(value.get_ref<const std::string&>(), pointer, out);
  } else if (value.is_object()) {
    for (const auto& [key, child] : value.items())
      Scan(child, JsonPointerAppend(pointer, key), out);
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) Scan(value[i], JsonPointerAppend(pointer, i), out);
  }
}

std::string Unescape(std::string_view token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size()) {
      out += token[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

}  // namespace

std::vector<SecretReference> FindSecretReferences(const Json& document) {
  std::vector<SecretReference> out;
  Scan(document, "", out);
  return out;
}

std::set<std::string> ReferencedSecretNames(const Json& document) {
  std::set<std::string> names;
  for (const auto& ref : FindSecretReferences(document)) names.insert(ref.name);
  return names;
}

std::string StepIdAt(const Json& document, std::string_view pointer) {
  std::string id;
  const Json* node = &document;
  size_t start = pointer.empty() ? std::string_view::npos : 1;
  while (start != std::string_view::npos && start <= pointer.size()) {
    size_t end = pointer.find('/', start);
    std::string token =
        Unescape(pointer.substr(start, end == std::string_view::npos ? end : end - start));
    if (node->is_object()) {
      auto it = node->find(token);
      if (it == node->end()) break;
      node = &*it;
    } else if (node->is_array()) {
      size_t index = 0;
      for (char c : token) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return id;
        index = index * 10 + (c - '0');
      }
      if (index >= node->size()) break;
      node = &(*node)[index];
    } else {
      break;
    }
    if (node->is_object() && node->contains("id") && (*node)["id"].is_string() &&
        token.find_first_not_of("0123456789") == std::string::npos) {
      id = (*node)["id"].get<std::string>();  // an item of a step list
    }
    start = end == std::string_view::npos ? end : end + 1;
  }
  return id;
}

}  // namespace flowrun
