// `ovid-gguf inspect FILE [--json]`: what a GGUF file holds (metadata, tensors, totals per type)
// and how much smaller it is than the same tensors in bf16. The JSON shape is documented in
// README.md, "inspect --json"; tests compare it against gguf-py, so keep it stable.
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/gguf_file.h"
#include "tools/ovid_gguf/commands.h"

namespace ovid::tools {
namespace {

using gguf::GgufFile;
using gguf::TensorInfo;
using gguf::Value;
using gguf::ValueType;
using Json = nlohmann::ordered_json;

constexpr char kInspectUsage[] =
    "usage: ovid-gguf inspect FILE [--json]\n"
    "  Prints the metadata, the tensors (name, type, torch-order shape, bytes), totals per type\n"
    "  and the size against the same tensors in bf16. --json prints one JSON object instead\n"
    "  (shape documented in README.md, section 'inspect --json').\n";

struct TypeTotal {
  int64_t tensors = 0;
  int64_t elements = 0;
  uint64_t nbytes = 0;
};

// JSON has no NaN or infinity; they become the strings "nan", "inf", "-inf".
Json FloatJson(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

// Scalars become JSON scalars and arrays JSON arrays. An array whose elements are arrays holds
// objects {"elem_type", "value"} because each inner array carries its own element type.
Json ValueJson(const Value& v) {
  if (v.IsUnsigned()) return std::get<uint64_t>(v.data);
  if (v.IsSigned()) return std::get<int64_t>(v.data);
  if (v.IsFloat()) return FloatJson(std::get<double>(v.data));
  if (v.type == ValueType::kBool) return std::get<bool>(v.data);
  if (v.type == ValueType::kString) return std::get<std::string>(v.data);
  const gguf::Array& a = std::get<gguf::Array>(v.data);
  Json items = Json::array();
  for (const Value& item : a.items) {
    if (a.elem_type == ValueType::kArray) {
      const gguf::Array& inner = std::get<gguf::Array>(item.data);
      items.push_back(
          Json{{"elem_type", gguf::ValueTypeName(inner.elem_type)}, {"value", ValueJson(item)}});
    } else {
      items.push_back(ValueJson(item));
    }
  }
  return items;
}

std::map<GgmlType, TypeTotal> TotalsPerType(const GgufFile& file) {
  std::map<GgmlType, TypeTotal> totals;
  for (const TensorInfo& t : file.tensors()) {
    TypeTotal& total = totals[t.type];
    ++total.tensors;
    total.elements += t.n_elements;
    total.nbytes += t.nbytes;
  }
  return totals;
}

Json InspectJson(const GgufFile& file) {
  Json metadata = Json::array();
  for (const gguf::KeyValue& kv : file.metadata()) {
    Json entry = {{"key", kv.key}, {"type", gguf::ValueTypeName(kv.value.type)}};
    if (kv.value.type == ValueType::kArray) {
      entry["elem_type"] = gguf::ValueTypeName(std::get<gguf::Array>(kv.value.data).elem_type);
    }
    entry["value"] = ValueJson(kv.value);
    metadata.push_back(std::move(entry));
  }
  Json tensors = Json::array();
  TypeTotal all;
  for (const TensorInfo& t : file.tensors()) {
    tensors.push_back(Json{{"name", t.name},
                           {"type", GgmlTypeName(t.type)},
                           {"type_id", static_cast<uint32_t>(t.type)},
                           {"shape", t.TorchShape()},
                           {"ne", t.ne},
                           {"n_elements", t.n_elements},
                           {"nbytes", t.nbytes},
                           {"offset", t.offset},
                           {"file_offset", file.data_offset() + t.offset}});
    ++all.tensors;
    all.elements += t.n_elements;
    all.nbytes += t.nbytes;
  }
  Json per_type = Json::array();
  for (const auto& [type, total] : TotalsPerType(file)) {
    per_type.push_back(Json{{"type", GgmlTypeName(type)},
                            {"type_id", static_cast<uint32_t>(type)},
                            {"tensors", total.tensors},
                            {"n_elements", total.elements},
                            {"nbytes", total.nbytes}});
  }
  const uint64_t bf16_nbytes = static_cast<uint64_t>(all.elements) * 2;
  Json totals = {
      {"tensors", all.tensors},
      {"n_elements", all.elements},
      {"nbytes", all.nbytes},
      {"bf16_nbytes", bf16_nbytes},
      {"ratio_to_bf16", bf16_nbytes ? Json(double(all.nbytes) / bf16_nbytes) : Json()},
      {"bits_per_weight", all.elements ? Json(8.0 * all.nbytes / all.elements) : Json()}};
  return Json{{"file", file.path()},
              {"file_size", file.file_size()},
              {"version", file.version()},
              {"alignment", file.alignment()},
              {"data_offset", file.data_offset()},
              {"metadata", std::move(metadata)},
              {"tensors", std::move(tensors)},
              {"totals_per_type", std::move(per_type)},
              {"totals", std::move(totals)}};
}

std::string HumanBytes(uint64_t n) {
  if (n < 1024) return absl::StrCat(n, " B");
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = n;
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return absl::StrFormat("%.2f %s", v, units[u]);
}

// A string from the file as one line of the table: control bytes (a NUL, which ended the line
// early, a newline, which faked a row of its own, terminal escape sequences) as \xNN, C1
// controls as \uNNNN; other bytes, UTF-8 included, as they are. --json escapes them its own way.
std::string Printable(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (b < 0x20 || b == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", b);
    } else if (b == 0xc2 && next >= 0x80 && next <= 0x9f) {
      // A C1 control in UTF-8 (U+0080-U+009F; U+009B is CSI to some terminals).
      absl::StrAppendFormat(&out, "\\u%04x", next);
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

void PrintHuman(const GgufFile& file) {
  std::printf("file:       %s (%s)\n", file.path().c_str(), HumanBytes(file.file_size()).c_str());
  std::printf("version:    %u   alignment: %u   data offset: %llu\n", file.version(),
              file.alignment(), static_cast<unsigned long long>(file.data_offset()));
  std::printf("\nmetadata (%zu keys):\n", file.metadata().size());
  for (const gguf::KeyValue& kv : file.metadata()) {
    std::printf("  %-40s %-8s %s\n", Printable(kv.key).c_str(), gguf::ValueTypeName(kv.value.type),
                Printable(kv.value.ToString()).c_str());
  }
  std::printf("\ntensors (%zu):\n", file.tensors().size());
  std::printf("  %-48s %-8s %-28s %14s\n", "name", "type", "shape (torch order)", "bytes");
  TypeTotal all;
  for (const TensorInfo& t : file.tensors()) {
    const std::string shape = absl::StrCat("[", absl::StrJoin(t.TorchShape(), ", "), "]");
    std::printf("  %-48s %-8s %-28s %14llu\n", Printable(t.name).c_str(), GgmlTypeName(t.type),
                shape.c_str(), static_cast<unsigned long long>(t.nbytes));
    ++all.tensors;
    all.elements += t.n_elements;
    all.nbytes += t.nbytes;
  }
  std::printf("\ntotals per type:\n");
  std::printf("  %-8s %8s %16s %14s %12s\n", "type", "tensors", "elements", "bytes", "size");
  for (const auto& [type, total] : TotalsPerType(file)) {
    std::printf("  %-8s %8lld %16lld %14llu %12s\n", GgmlTypeName(type),
                static_cast<long long>(total.tensors), static_cast<long long>(total.elements),
                static_cast<unsigned long long>(total.nbytes), HumanBytes(total.nbytes).c_str());
  }
  const uint64_t bf16 = static_cast<uint64_t>(all.elements) * 2;
  std::printf("\ntotal: %lld tensors, %lld elements, %s", static_cast<long long>(all.tensors),
              static_cast<long long>(all.elements), HumanBytes(all.nbytes).c_str());
  if (bf16 > 0) {
    std::printf(" vs %s in bf16 (%.1f%%, %.3f bits per weight)", HumanBytes(bf16).c_str(),
                100.0 * all.nbytes / bf16, 8.0 * all.nbytes / all.elements);
  }
  std::printf("\n");
}

}  // namespace

int RunInspect(const Args& args) {
  std::string path;
  bool json = false;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::fputs(kInspectUsage, stdout);
      return 0;
    }
    if (arg == "--json") {
      json = true;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "ovid-gguf inspect: unknown option '%s'\n%s", arg.c_str(),
                   kInspectUsage);
      return 2;
    } else if (path.empty()) {
      path = arg;
    } else {
      std::fprintf(stderr, "ovid-gguf inspect: one FILE only (got '%s' and '%s')\n%s", path.c_str(),
                   arg.c_str(), kInspectUsage);
      return 2;
    }
  }
  if (path.empty()) {
    std::fputs(kInspectUsage, stderr);
    return 2;
  }
  auto file = GgufFile::Open(path);
  if (!file.ok()) {
    std::fprintf(stderr, "ovid-gguf inspect: %s\n", file.status().ToString().c_str());
    return 1;
  }
  if (json) {
    // Strings in a GGUF are not guaranteed UTF-8: invalid sequences print as U+FFFD rather than
    // failing the whole dump.
    std::string out = InspectJson(**file).dump(1, ' ', false, Json::error_handler_t::replace);
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fputc('\n', stdout);
  } else {
    PrintHuman(**file);
  }
  return 0;
}

}  // namespace ovid::tools
