// File: engine/models/key_table_rows.h
// The text format every component's key table shares (engine/models/*/keys*.txt): one row per
// line, fields separated by spaces, '#' comments and blank lines skipped. Each component gives
// its rows their meaning; this walks the lines and words the errors the same way for all
// ("key table NAME line N: WHY: 'LINE'"). Header-only and torch-free.
#pragma once

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace ovid::models {

// An error about the current row, naming the table, the line and the row.
using RowError = std::function<absl::Status(absl::string_view why)>;

// Calls `row(fields, bad)` for every row of `text`; the first non-OK status is returned.
template <typename Row>
absl::Status ForEachKeyTableRow(absl::string_view name, absl::string_view text, Row&& row) {
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    const RowError bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("key table ", name, " line ", line_no, ": ", why, ": '", line, "'"));
    };
    if (absl::Status s = row(fields, bad); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace ovid::models
