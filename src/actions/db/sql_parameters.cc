#include "actions/db/sql_parameters.h"

#include <algorithm>
#include <cctype>

namespace flowrun {
namespace {

bool IdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

StatusOr<PositionalSql> TranslateNamedParameters(std::string_view sql) {
  PositionalSql out;
  const size_t n = sql.size();
  size_t i = 0;
  auto copy_until = [&](size_t end) {
    out.sql.append(sql.substr(i, end - i));
    i = end;
  };
  while (i < n) {
    char c = sql[i];
    char next = i + 1 < n ? sql[i + 1] : '\0';
    bool after_ident = i > 0 && (IdentChar(sql[i - 1]) || sql[i - 1] == '$');
    if (c == '\'') {
      // E'…' strings treat backslash as an escape; standard strings only double quotes.
      bool escapes =
          i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && !(i > 1 && IdentChar(sql[i - 2]));
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= n) return InvalidArgumentError("sql has an unterminated string literal");
        if (escapes && sql[j] == '\\') {
          ++j;
          continue;
        }
        if (sql[j] == '\'') {
          if (j + 1 < n && sql[j + 1] == '\'') {
            ++j;
            continue;
          }
          break;
        }
      }
      copy_until(j + 1);
    } else if (c == '"') {
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= n) return InvalidArgumentError("sql has an unterminated quoted identifier");
        if (sql[j] == '"') {
          if (j + 1 < n && sql[j + 1] == '"') {
            ++j;
            continue;
          }
          break;
        }
      }
      copy_until(j + 1);
    } else if (c == '-' && next == '-') {
      size_t end = sql.find('\n', i);
      copy_until(end == std::string_view::npos ? n : end);
    } else if (c == '/' && next == '*') {
      int depth = 0;
      size_t j = i;
      while (true) {
        if (j + 1 >= n) return InvalidArgumentError("sql has an unterminated /* comment");
        if (sql[j] == '/' && sql[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (sql[j] == '*' && sql[j + 1] == '/') {
          --depth;
          j += 2;
          if (depth == 0) break;
        } else {
          ++j;
        }
      }
      copy_until(j);
    } else if (c == '$' && !after_ident) {
      if (std::isdigit(static_cast<unsigned char>(next))) {
        return InvalidArgumentError("sql uses a positional placeholder ($" + std::string(1, next) +
                                    "…); use named :parameters with values in params");
      }
      // A dollar quote: $$ or $tag$.
      size_t j = i + 1;
      while (j < n && IdentChar(sql[j]) && sql[j] != '$') ++j;
      if (j < n && sql[j] == '$' && (j == i + 1 || IdentStart(sql[i + 1]))) {
        std::string_view tag = sql.substr(i, j - i + 1);
        size_t close = sql.find(tag, j + 1);
        if (close == std::string_view::npos) {
          return InvalidArgumentError("sql has an unterminated dollar-quoted string " +
                                      std::string(tag));
        }
        copy_until(close + tag.size());
      } else {
        copy_until(i + 1);
      }
    } else if (c == ':' && next == ':') {
      copy_until(i + 2);
    } else if (c == ':' && IdentStart(next) && !after_ident) {
      size_t j = i + 1;
      while (j < n && IdentChar(sql[j]) && static_cast<unsigned char>(sql[j]) < 0x80) ++j;
      std::string name(sql.substr(i + 1, j - i - 1));
      auto it = std::find(out.names.begin(), out.names.end(), name);
      size_t position = it - out.names.begin() + 1;
      if (it == out.names.end()) out.names.push_back(name);
      out.sql += "$" + std::to_string(position);
      i = j;
    } else {
      copy_until(i + 1);
    }
  }
  return out;
}

}  // namespace flowrun
