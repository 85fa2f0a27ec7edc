// Guard in front of toml++ 3.3 (Debian 12): its
// is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() for
// most code points U+00A1..U+0499 and U+FC06..U+FEFE (e.g. "é"), i.e. real
// undefined behaviour, whenever the parser asks "is this whitespace?" about a
// non-ASCII character. It asks that
//  - outside strings and comments (between tokens, after a bare key);
//  - in a multi-line basic string after a backslash (is it line-ending?);
//  - on every character of a bare value (number, boolean, date) while it
//    looks for the value's end, and that scan does not stop at quotes: in
//    `a = 10'é'` the quote is part of the bad number, not a string.
// TOML 1.0 never allows a non-ASCII character in any of those places, so we
// refuse them here with a clear line number instead of letting the parser run
// into the bug. To know whether a quote opens a string we track, like the
// parser, whether we are reading a key or a value and, inside a value,
// whether a bare token has started (found by tests/fuzz config). Non-ASCII in
// real quoted strings and comments stays allowed (user names, descriptions).
#include "config_charset.h"

#include <vector>

#include "absl/strings/str_format.h"

namespace vpn::config {
namespace {

enum class Lexeme { kCode, kComment, kBasic, kLiteral, kMlBasic, kMlLiteral };

// Where the parser is between strings. A key is read at the start of a line,
// inside a table header and after '{' or ',' in an inline table; a value after
// '=' and after '[' or ',' in an array.
struct Context {
  bool in_value = false;
  bool value_start = false;  // nothing but whitespace since the value began
  bool bare_token = false;   // inside a number/boolean/date or other bare value
  bool in_header = false;    // "[table]" or "[[array]]" line
  std::vector<char> nest;    // 'A' array, 'T' inline table

  void EnterValue() {
    in_value = true;
    value_start = true;
    bare_token = false;
  }
  void EnterKey() {
    in_value = false;
    value_start = false;
    bare_token = false;
  }
  // After a complete value (string, array, inline table).
  void ValueDone() {
    value_start = false;
    bare_token = false;
  }
  // Can a quote at this point open a string the parser reads as a string?
  bool QuoteOpensString() const { return !in_value || value_start; }

  // Structural bookkeeping for one byte of code (not in a string/comment).
  void Code(unsigned char ch) {
    const bool space = ch == ' ' || ch == '\t' || ch == '\r';
    if (ch == '\n') {
      in_header = false;
      if (nest.empty()) {
        EnterKey();
      } else {
        bare_token = false;  // a newline ends a bare value inside an array
      }
      return;
    }
    if (space) {
      bare_token = false;  // whitespace ends a bare value; value_start holds
      return;
    }
    if (!in_value) {
      if (ch == '[' && nest.empty() && !in_header) {
        in_header = true;
      } else if (ch == '=' && !in_header) {
        EnterValue();
      } else if (ch == '}' && !nest.empty() && nest.back() == 'T') {
        nest.pop_back();  // "{}" or "{a = 1,}" (invalid): leaves a value
        in_value = true;
        ValueDone();
      }
      return;
    }
    if (value_start && ch == '[') {
      nest.push_back('A');
      return;  // value_start holds for the first element
    }
    if (value_start && ch == '{') {
      nest.push_back('T');
      EnterKey();
      return;
    }
    if (ch == ',') {
      if (!nest.empty() && nest.back() == 'T') {
        EnterKey();
      } else {
        EnterValue();
      }
      return;
    }
    if (ch == ']' || ch == '}') {
      if (!nest.empty()) nest.pop_back();
      ValueDone();
      return;
    }
    // Any other character in a value starts or continues a bare token; it
    // ends only at whitespace, ']', '}', ',' or '#' (toml++'s
    // is_value_terminator), so quotes inside it are not strings.
    value_start = false;
    bare_token = true;
  }
};

absl::Status Refuse(const std::string& name, int line, const char* where) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s:%d: non-ASCII character %s", name, line, where));
}

}  // namespace

absl::Status CheckTomlCharacters(std::string_view text, const std::string& name) {
  Lexeme st = Lexeme::kCode;
  Context ctx;
  bool restricted = false;          // this string is really part of a bare token
  bool line_continuation = false;   // after "\" + whitespace in a """ string
  int line = 1;
  auto starts = [&](size_t i, std::string_view s) { return text.substr(i, s.size()) == s; };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char ch = static_cast<unsigned char>(text[i]);
    if (ch == '\n') ++line;
    if (ch >= 0x80 && restricted && st != Lexeme::kCode && st != Lexeme::kComment) {
      return Refuse(name, line, "in a quote inside a bare value");
    }
    switch (st) {
      case Lexeme::kCode: {
        if (ch >= 0x80) return Refuse(name, line, "outside a quoted string or comment");
        const bool quote = ch == '"' || ch == '\'';
        if (ch == '#') {
          st = Lexeme::kComment;
          ctx.bare_token = false;
          break;
        }
        if (!quote) {
          ctx.Code(ch);
          break;
        }
        // The lexeme still has to be followed to know where the quote ends,
        // but in a bare token its content is checked like code.
        restricted = !ctx.QuoteOpensString() || ctx.bare_token;
        if (starts(i, "\"\"\"")) {
          st = Lexeme::kMlBasic;
          i += 2;
        } else if (starts(i, "'''")) {
          st = Lexeme::kMlLiteral;
          i += 2;
        } else {
          st = ch == '"' ? Lexeme::kBasic : Lexeme::kLiteral;
        }
        if (restricted) {
          ctx.bare_token = true;
          ctx.value_start = false;
        }
        break;
      }
      case Lexeme::kComment:
        if (ch == '\n') {
          st = Lexeme::kCode;
          ctx.Code(ch);
        }
        break;
      case Lexeme::kBasic:
        if (ch == '\\' && i + 1 < text.size()) {
          ++i;  // an escape: the next byte cannot close the string
          if (text[i] == '\n') ++line;
          if (static_cast<unsigned char>(text[i]) >= 0x80) {
            return Refuse(name, line, "right after a backslash");  // never a valid escape
          }
        } else if (ch == '"' || ch == '\n') {
          st = Lexeme::kCode;  // closed (or unterminated: toml++ reports it)
          if (!restricted) ctx.ValueDone();
          if (ch == '\n') ctx.Code(ch);
        }
        break;
      case Lexeme::kLiteral:
        if (ch == '\'' || ch == '\n') {
          st = Lexeme::kCode;
          if (!restricted) ctx.ValueDone();
          if (ch == '\n') ctx.Code(ch);
        }
        break;
      case Lexeme::kMlBasic:
        if (line_continuation) {
          if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') break;
          line_continuation = false;
          if (ch >= 0x80) return Refuse(name, line, "right after a line-ending backslash");
        }
        if (ch == '\\' && i + 1 < text.size()) {
          const char next = text[i + 1];
          if (next == ' ' || next == '\t' || next == '\n' || next == '\r') {
            line_continuation = true;
          } else {
            ++i;  // an escape such as \" or \\ .
            // toml++ asks "is this whitespace?" about the character after
            // every backslash of a """ string (a line-ending backslash?).
            if (static_cast<unsigned char>(text[i]) >= 0x80) {
              return Refuse(name, line, "right after a backslash");
            }
          }
        } else if (starts(i, "\"\"\"")) {
          st = Lexeme::kCode;
          i += 2;
          // Up to two more quotes may belong to the content ("""a"""").
          while (i + 1 < text.size() && text[i + 1] == '"') ++i;
          if (!restricted) ctx.ValueDone();
        }
        break;
      case Lexeme::kMlLiteral:
        if (starts(i, "'''")) {
          st = Lexeme::kCode;
          i += 2;
          while (i + 1 < text.size() && text[i + 1] == '\'') ++i;
          if (!restricted) ctx.ValueDone();
        }
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace vpn::config
