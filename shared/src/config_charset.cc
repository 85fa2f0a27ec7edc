// Guard in front of toml++ 3.3 (Debian 12): its
// is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() for
// most code points U+00A1..U+0499 and U+FC06..U+FEFE (e.g. "é"), i.e. real
// undefined behaviour, whenever the parser asks "is this whitespace?" about a
// non-ASCII character. It only asks that outside strings and comments, and in
// a multi-line basic string right after a line-ending backslash. Those are
// positions where TOML 1.0 never allows a non-ASCII character anyway, so we
// refuse them here with a clear line number instead of letting the parser
// run into the bug. Non-ASCII in quoted strings and comments stays allowed
// (user names, descriptions).
#include "config_charset.h"

#include "absl/strings/str_format.h"

namespace vpn::config {

absl::Status CheckTomlCharacters(std::string_view text, const std::string& name) {
  enum class State { kCode, kComment, kBasic, kLiteral, kMlBasic, kMlLiteral };
  State st = State::kCode;
  bool line_continuation = false;  // after "\" + whitespace in a """ string
  int line = 1;
  auto starts = [&](size_t i, std::string_view s) { return text.substr(i, s.size()) == s; };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch == '\n') ++line;
    switch (st) {
      case State::kCode:
        if (ch >= 0x80) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s:%d: non-ASCII character outside a quoted string or comment", name, line));
        }
        if (ch == '#') {
          st = State::kComment;
        } else if (starts(i, "\"\"\"")) {
          st = State::kMlBasic;
          i += 2;
        } else if (starts(i, "'''")) {
          st = State::kMlLiteral;
          i += 2;
        } else if (ch == '"') {
          st = State::kBasic;
        } else if (ch == '\'') {
          st = State::kLiteral;
        }
        break;
      case State::kComment:
        if (ch == '\n') st = State::kCode;
        break;
      case State::kBasic:
        if (ch == '\\' && i + 1 < text.size()) {
          ++i;  // an escape: the next byte cannot close the string
          if (text[i] == '\n') ++line;
        } else if (ch == '"' || ch == '\n') {
          st = State::kCode;  // closed (or unterminated: toml++ reports it)
        }
        break;
      case State::kLiteral:
        if (ch == '\'' || ch == '\n') st = State::kCode;
        break;
      case State::kMlBasic:
        if (line_continuation) {
          if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') break;
          line_continuation = false;
          if (ch >= 0x80) {
            return absl::InvalidArgumentError(absl::StrFormat(
                "%s:%d: non-ASCII character right after a line-ending backslash", name, line));
          }
        }
        if (ch == '\\' && i + 1 < text.size()) {
          const char next = text[i + 1];
          if (next == ' ' || next == '\t' || next == '\n' || next == '\r') {
            line_continuation = true;
          } else {
            ++i;  // an escape such as \" or \\ .
          }
        } else if (starts(i, "\"\"\"")) {
          st = State::kCode;
          i += 2;
          // Up to two more quotes may belong to the content ("""a"""").
          while (i + 1 < text.size() && text[i + 1] == '"') ++i;
        }
        break;
      case State::kMlLiteral:
        if (starts(i, "'''")) {
          st = State::kCode;
          i += 2;
          while (i + 1 < text.size() && text[i + 1] == '\'') ++i;
        }
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace vpn::config
