// `ovid-gguf quantize IN OUT --type T [--rules ovi|none] [--threads N]`: re-encodes a GGUF's
// tensors by a mix (quant_rules.h), one tensor at a time so the input never sits in RAM.
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"
#include "tools/ovid_gguf/commands.h"
#include "tools/ovid_gguf/progress.h"
#include "tools/ovid_gguf/quant_rules.h"
#include "tools/ovid_gguf/tensor_convert.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "quantize";
constexpr char kUsage[] =
    "usage: ovid-gguf quantize IN OUT --type T [--rules ovi|none] [--threads N]\n"
    "  T: a ggml type (Q4_0, Q4_K, Q8_0, F16, ...) or a mix (Q4_K_M, Q5_K_S, Q3_K_L, ...;\n"
    "  see README.md). Without --rules every 2-D F32/F16/BF16 tensor whose row length suits\n"
    "  the type is converted; --rules ovi quantizes only the blocks' Linear weights.\n";

// Keys the writer or this command sets itself.
bool IsReplacedKey(const std::string& key) {
  return key == "general.alignment" || key == "general.file_type" ||
         key == "general.quantization_version";
}

struct TypeTotals {
  int tensors = 0;
  uint64_t bytes = 0;
};

absl::Status Quantize(const std::string& in, const std::string& out, const QuantMix& mix,
                      QuantRules rules, int threads) {
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<gguf::GgufFile>> opened = gguf::GgufFile::Open(in);
  if (!opened.ok()) return opened.status();
  const gguf::GgufFile& file = **opened;

  gguf::GgufWriter writer(file.alignment());
  for (const gguf::KeyValue& kv : file.metadata()) {
    if (IsReplacedKey(kv.key)) continue;
    if (absl::Status s = writer.AddMetadata(kv.key, kv.value); !s.ok()) return s;
  }
  std::map<std::string, const gguf::TensorInfo*> sources;
  bool any_quantized = false;
  int converted = 0;
  std::map<GgmlType, TypeTotals> totals;
  uint64_t bytes_in = 0;
  for (const gguf::TensorInfo& t : file.tensors()) {
    const GgmlType type = ChooseTensorType(mix, rules, t.name, t.type, t.ne);
    if (absl::Status s = writer.AddTensor(t.name, type, t.ne); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(out, ": ", s.message()));
    }
    sources[t.name] = &t;
    any_quantized |= GgmlInfo(type).quantized;
    converted += type != t.type;
    bytes_in += t.nbytes;
  }
  for (const gguf::GgufWriter::PlannedTensor& p : writer.tensors()) {
    totals[p.type].tensors++;
    totals[p.type].bytes += p.nbytes;
  }
  // Tensors quantized already are copied as they are (quantize starts from float weights), so
  // requantizing a Q4_K_M file "as Q8_0" leaves it Q4_K_M: its label must not say Q8_0.
  std::map<GgmlType, int> kept_quantized;
  for (const gguf::TensorInfo& t : file.tensors()) {
    if (GgmlInfo(t.type).quantized) kept_quantized[t.type]++;
  }
  std::optional<uint32_t> file_type = mix.file_type;
  if (!kept_quantized.empty()) {
    std::vector<std::string> kinds;
    int count = 0;
    for (const auto& [type, n] : kept_quantized) {
      kinds.push_back(absl::StrCat(n, " ", GgmlTypeName(type)));
      count += n;
    }
    // The label follows the majority: a float file with a few tensors quantized already is the
    // requested mix; a quantized file "requantized" keeps what it was.
    // Without a label of its own the input gets none (a wrong one is worse than none).
    const gguf::Value* input_label = file.FindMetadata("general.file_type");
    if (count > converted) {
      file_type = std::nullopt;
      if (input_label != nullptr && input_label->type == gguf::ValueType::kUint32) {
        file_type = static_cast<uint32_t>(std::get<uint64_t>(input_label->data));
      }
    }
    const std::string label = !file_type ? std::string("is left out (the input has none)")
                              : *file_type == mix.file_type
                                  ? std::string("is the requested type's")
                                  : absl::StrCat("keeps the input's value (", *file_type, ")");
    std::fprintf(stderr,
                 "ovid-gguf quantize: note: %d tensors of %s are quantized already (%s) and are "
                 "copied unchanged, not requantized; general.file_type %s\n",
                 count, in.c_str(), absl::StrJoin(kinds, ", ").c_str(), label.c_str());
  }
  if (file_type) {
    if (absl::Status s = writer.AddMetadata("general.file_type", gguf::Value::U32(*file_type));
        !s.ok()) {
      return s;
    }
  }
  if (any_quantized) {
    if (absl::Status s = writer.AddMetadata("general.quantization_version", gguf::Value::U32(2));
        !s.ok()) {
      return s;
    }
  }
  uint64_t planned_bytes = 0;
  for (const gguf::GgufWriter::PlannedTensor& p : writer.tensors()) planned_bytes += p.nbytes;
  Progress progress("quantize", static_cast<int64_t>(file.tensors().size()), planned_bytes);
  const absl::Status written =
      writer.Write(out, [&](const gguf::GgufWriter::PlannedTensor& p, std::vector<uint8_t>* buf) {
        const gguf::TensorInfo& src = *sources.at(p.name);
        int64_t overflowed = 0;
        const absl::Status s =
            ConvertTensor(p.name, src.type, file.TensorData(src), p.type, src.Rows(),
                          src.RowElements(), threads, buf, &overflowed);
        if (overflowed > 0) {
          // As ggml rounds them, but a model with infinities in its weights is broken: say so.
          std::fprintf(stderr,
                       "ovid-gguf quantize: warning: tensor '%s': %lld finite values are beyond "
                       "F16's range (|x| >= 65520) and became +-inf\n",
                       p.name.c_str(), static_cast<long long>(overflowed));
        }
        progress.Tensor(p.nbytes);
        return s;
      });
  if (!written.ok()) return written;

  uint64_t bytes_out = 0;
  for (const auto& [type, total] : totals) bytes_out += total.bytes;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("quantized %s -> %s as %s (rules: %s): %d of %zu tensors converted\n", in.c_str(),
              out.c_str(), std::string(mix.name).c_str(),
              rules == QuantRules::kOvi ? "ovi" : "none", converted, file.tensors().size());
  for (const auto& [type, total] : totals) {
    std::printf("  %-6s %6d tensors  %s\n", GgmlTypeName(type), total.tensors,
                HumanBytes(static_cast<double>(total.bytes)).c_str());
  }
  std::printf(
      "tensor data: %s -> %s (%.1f%%), %.1f s, %d threads\n",
      HumanBytes(static_cast<double>(bytes_in)).c_str(),
      HumanBytes(static_cast<double>(bytes_out)).c_str(),
      bytes_in ? 100.0 * static_cast<double>(bytes_out) / static_cast<double>(bytes_in) : 100.0,
      seconds, threads);
  return absl::OkStatus();
}

}  // namespace

int RunQuantize(const Args& args) {
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(args, {"--type", "--rules", "--threads"}, {});
  if (!parsed.ok()) return UsageError(kCommand, std::string(parsed.status().message()), kUsage);
  if (parsed->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (parsed->positional.size() != 2) return UsageError(kCommand, "expected IN and OUT", kUsage);
  const std::optional<std::string> type = parsed->Get("--type");
  if (!type) return UsageError(kCommand, "missing --type", kUsage);
  absl::StatusOr<QuantMix> mix = FindQuantMix(*type);
  if (!mix.ok()) return UsageError(kCommand, std::string(mix.status().message()), kUsage);
  absl::StatusOr<QuantRules> rules = ParseQuantRules(parsed->Get("--rules"));
  if (!rules.ok()) return UsageError(kCommand, std::string(rules.status().message()), kUsage);
  absl::StatusOr<int> threads = ThreadsOption(*parsed);
  if (!threads.ok()) return UsageError(kCommand, std::string(threads.status().message()), kUsage);
  const absl::Status s =
      Quantize(parsed->positional[0], parsed->positional[1], *mix, *rules, *threads);
  return s.ok() ? 0 : Fail(kCommand, s);
}

}  // namespace ovid::tools
