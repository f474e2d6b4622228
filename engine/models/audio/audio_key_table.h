// File: engine/models/audio/audio_key_table.h
// The key tables of the audio decoders (MMAudio VAE, BigVGAN): plain text data, compiled in,
// mapping ovid's logical module names to the names in the checkpoint. Torch-free.
//
// Format (one row per line, '#' starts a comment line):
//   module <logical pattern> <file pattern>   a module; its tensors are <file>.<param>
//   ignore <file prefix>                      tensors the file may hold that ovid does not use
//                                             (MMAudio's encoder.*): listed as "ignored"
//   prefix <file prefix>                      an optional prefix in front of every name
//                                             (BigVGAN's "generator."), detected per file
// Patterns hold placeholders {x} (one letter), replaced by the values of Vars.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ovid::audio {

struct AudioKeyTable {
  std::string name;                            // the data file's name, for errors
  std::map<std::string, std::string> modules;  // logical pattern -> file pattern
  std::vector<std::string> ignored;            // prefixes
  std::vector<std::string> prefixes;           // optional leading prefixes
};

using Vars = std::map<char, int64_t>;

// Errors name `name` and the line.
absl::StatusOr<AudioKeyTable> ParseAudioKeyTable(absl::string_view name, absl::string_view text);

// "<prefix><file pattern with vars>[.<param>]" for logical module `pattern`; INTERNAL naming the
// table when it has no such row (a broken built-in table, not a broken file).
// A compiled-in table, parsed once (a function-local static of this type is thread-safe); a
// broken built-in table is an INTERNAL error, not the file's.
class BuiltinAudioKeyTable {
 public:
  BuiltinAudioKeyTable(absl::string_view name, const char* text)
      : table_(ParseAudioKeyTable(name, text)) {}
  absl::StatusOr<const AudioKeyTable*> Get() const {
    if (!table_.ok()) return absl::InternalError(table_.status().message());
    return &*table_;
  }

 private:
  absl::StatusOr<AudioKeyTable> table_;
};

absl::StatusOr<std::string> AudioFileKey(const AudioKeyTable& table, absl::string_view pattern,
                                         const Vars& vars, absl::string_view param,
                                         absl::string_view prefix = "");

}  // namespace ovid::audio
