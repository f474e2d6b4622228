// File: engine/models/umt5/umt5_keys.cc
// Parses the compiled-in key tables once. Table syntax: '#' starts a comment; each line is a
// canonical name ("{N}" = block index) followed by shape symbols (canonical.keys) or by the
// source names separated by '|' (the layout tables).
#include "engine/models/umt5/umt5_keys.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/models/umt5/umt5_key_tables.h"

namespace ovid::umt5 {
namespace {

constexpr std::string_view kBlock = "{N}";

struct Rule {
  std::string canonical;             // template
  std::vector<std::string> shape;    // symbols
  std::vector<std::string> sources;  // templates, per layout
};

struct Tables {
  absl::Status status;
  // rules[layout] in canonical order; every layout has every canonical name.
  std::map<Umt5Layout, std::vector<Rule>> rules;
};

// Non-empty lines of a table, comments stripped, each split into words.
std::vector<std::vector<std::string>> Lines(std::string_view text) {
  std::vector<std::vector<std::string>> out;
  // absl here is Debian's 20220623 build, whose string_view is its own type: convert.
  for (absl::string_view line : absl::StrSplit(absl::string_view(text.data(), text.size()), '\n')) {
    line = line.substr(0, line.find('#'));
    std::vector<std::string> words =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (!words.empty()) out.push_back(std::move(words));
  }
  return out;
}

std::string_view TableText(Umt5Layout layout) {
  switch (layout) {
    case Umt5Layout::kPth:
      return PthKeyTable();
    case Umt5Layout::kHf:
      return HfKeyTable();
    case Umt5Layout::kGguf:
      return GgufKeyTable();
  }
  return {};
}

Tables Parse() {
  Tables t;
  std::vector<Rule> canonical;
  for (std::vector<std::string>& words : Lines(CanonicalKeyTable())) {
    Rule r;
    r.canonical = words[0];
    r.shape.assign(words.begin() + 1, words.end());
    canonical.push_back(std::move(r));
  }
  for (Umt5Layout layout : kAllUmt5Layouts) {
    std::map<std::string, std::vector<std::string>> sources;
    for (std::vector<std::string>& words : Lines(TableText(layout))) {
      std::vector<std::string>& names = sources[words[0]];
      for (size_t i = 1; i < words.size(); ++i) {
        if (words[i] != "|") names.push_back(words[i]);
      }
    }
    std::vector<Rule> rules = canonical;
    for (Rule& r : rules) {
      auto it = sources.find(r.canonical);
      if (it == sources.end() || it->second.empty()) {
        t.status = absl::InternalError(absl::StrCat("keys/", Umt5LayoutName(layout),
                                                    ".keys has no name for '", r.canonical, "'"));
        return t;
      }
      r.sources = it->second;
      sources.erase(it);
    }
    if (!sources.empty()) {
      t.status = absl::InternalError(absl::StrCat("keys/", Umt5LayoutName(layout), ".keys names '",
                                                  sources.begin()->first,
                                                  "', which keys/canonical.keys lacks"));
      return t;
    }
    t.rules[layout] = std::move(rules);
  }
  return t;
}

const Tables& Parsed() {
  static const Tables* tables = new Tables(Parse());  // parsed once, never freed
  return *tables;
}

absl::StatusOr<int64_t> Symbol(const Umt5Config& c, const std::string& s) {
  if (s == "vocab") return c.vocab;
  if (s == "d_model") return c.d_model;
  if (s == "inner") return c.Inner();
  if (s == "d_ff") return c.d_ff;
  if (s == "buckets") return c.buckets;
  if (s == "heads") return c.heads;
  if (s == "d_kv") return c.d_kv;
  int64_t v = 0;
  if (absl::SimpleAtoi(s, &v)) return v;
  return absl::InternalError(absl::StrCat("keys/canonical.keys: unknown shape symbol '", s, "'"));
}

std::string Instantiate(const std::string& tmpl, int layer) {
  if (layer < 0) return tmpl;
  std::string out = tmpl;
  for (size_t at = out.find(kBlock); at != std::string::npos; at = out.find(kBlock, at)) {
    const std::string index = std::to_string(layer);
    out.replace(at, kBlock.size(), index);
    at += index.size();
  }
  return out;
}

// The block index if `name` matches `tmpl` ("{N}" = a decimal without leading zeros), -1 for a
// template without "{N}" that equals `name`, nullopt otherwise.
std::optional<int> MatchTemplate(std::string_view tmpl, std::string_view name) {
  const size_t at = tmpl.find(kBlock);
  if (at == std::string_view::npos) return tmpl == name ? std::optional<int>(-1) : std::nullopt;
  const std::string_view prefix = tmpl.substr(0, at), suffix = tmpl.substr(at + kBlock.size());
  if (name.size() <= prefix.size() + suffix.size() || name.substr(0, prefix.size()) != prefix ||
      name.substr(name.size() - suffix.size()) != suffix) {
    return std::nullopt;
  }
  const std::string_view digits =
      name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  int layer = 0;
  if ((digits.size() > 1 && digits[0] == '0') || digits.size() > 6 ||
      !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()), &layer)) {
    return std::nullopt;
  }
  return layer;
}

}  // namespace

const char* Umt5LayoutName(Umt5Layout layout) {
  switch (layout) {
    case Umt5Layout::kPth:
      return "pth";
    case Umt5Layout::kHf:
      return "hf";
    case Umt5Layout::kGguf:
      return "gguf";
  }
  return "?";
}

std::optional<Umt5Layout> ParseUmt5Layout(std::string_view name) {
  for (Umt5Layout l : kAllUmt5Layouts) {
    if (name == Umt5LayoutName(l)) return l;
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<Umt5Tensor>> BuildUmt5Layout(const Umt5Config& config,
                                                        Umt5Layout layout) {
  const Tables& tables = Parsed();
  if (!tables.status.ok()) return tables.status;
  const std::vector<Rule>& rules = tables.rules.at(layout);
  std::vector<Umt5Tensor> out;
  auto add = [&](const Rule& r, int layer) -> absl::Status {
    Umt5Tensor t;
    t.canonical = Instantiate(r.canonical, layer);
    for (const std::string& s : r.sources) t.names.push_back(Instantiate(s, layer));
    for (const std::string& s : r.shape) {
      absl::StatusOr<int64_t> v = Symbol(config, s);
      if (!v.ok()) return v.status();
      t.shape.push_back(*v);
    }
    t.layer = layer;
    out.push_back(std::move(t));
    return absl::OkStatus();
  };
  auto per_block = [](const Rule& r) { return r.canonical.find(kBlock) != std::string::npos; };
  for (const Rule& r : rules) {
    if (!per_block(r)) {
      if (absl::Status s = add(r, -1); !s.ok()) return s;
    }
  }
  for (int layer = 0; layer < config.layers; ++layer) {
    for (const Rule& r : rules) {
      if (!per_block(r)) continue;
      if (absl::Status s = add(r, layer); !s.ok()) return s;
    }
  }
  return out;
}

std::optional<Umt5KeyMatch> MatchUmt5Key(Umt5Layout layout, std::string_view name) {
  const Tables& tables = Parsed();
  if (!tables.status.ok()) return std::nullopt;
  for (const Rule& r : tables.rules.at(layout)) {
    for (const std::string& s : r.sources) {
      if (std::optional<int> layer = MatchTemplate(s, name)) {
        return Umt5KeyMatch{Instantiate(r.canonical, *layer), r.canonical, *layer};
      }
    }
  }
  return std::nullopt;
}

}  // namespace ovid::umt5
