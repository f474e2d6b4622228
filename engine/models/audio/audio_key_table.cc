#include "engine/models/audio/audio_key_table.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/models/key_table_rows.h"

namespace ovid::audio {
namespace {

std::string Substitute(absl::string_view pattern, const Vars& vars) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{' && i + 2 < pattern.size() && pattern[i + 2] == '}') {
      auto it = vars.find(pattern[i + 1]);
      if (it != vars.end()) {
        absl::StrAppend(&out, it->second);
        i += 2;
        continue;
      }
    }
    out.push_back(pattern[i]);
  }
  return out;
}

}  // namespace

absl::StatusOr<AudioKeyTable> ParseAudioKeyTable(absl::string_view name, absl::string_view text) {
  AudioKeyTable table;
  table.name = std::string(name);
  const absl::Status parsed = models::ForEachKeyTableRow(
      name, text, [&](const std::vector<absl::string_view>& f, const models::RowError& bad) {
        if (f[0] == "module" && f.size() == 3) {
          if (!table.modules.emplace(std::string(f[1]), std::string(f[2])).second) {
            return bad("duplicate module");
          }
        } else if (f[0] == "ignore" && f.size() == 2) {
          table.ignored.emplace_back(f[1]);
        } else if (f[0] == "prefix" && f.size() == 2) {
          table.prefixes.emplace_back(f[1]);
        } else {
          return bad("expected 'module LOGICAL FILE', 'ignore PREFIX' or 'prefix PREFIX'");
        }
        return absl::OkStatus();
      });
  if (!parsed.ok()) return parsed;
  return table;
}

absl::StatusOr<std::string> AudioFileKey(const AudioKeyTable& table, absl::string_view pattern,
                                         const Vars& vars, absl::string_view param,
                                         absl::string_view prefix) {
  auto it = table.modules.find(std::string(pattern));
  if (it == table.modules.end()) {
    return absl::InternalError(
        absl::StrCat("key table ", table.name, " has no row 'module ", pattern, "'"));
  }
  std::string key = absl::StrCat(prefix, Substitute(it->second, vars));
  if (!param.empty()) absl::StrAppend(&key, ".", param);
  return key;
}

}  // namespace ovid::audio
