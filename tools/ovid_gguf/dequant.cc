// `ovid-gguf dequant FILE TENSOR -o OUT [--dtype f32|f16|bf16]`: one tensor as raw
// little-endian floats, row-major in PyTorch shape order (GGUF's ne[0] is the fastest axis,
// which is exactly torch's last axis, so the rows come out in file order).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/gguf/atomic_file.h"
#include "engine/gguf/gguf_file.h"
#include "kernels/cpu/dequantize.h"
#include "tools/ovid_gguf/commands.h"
#include "tools/ovid_gguf/name_suggest.h"
#include "tools/ovid_gguf/tensor_convert.h"
#include "tools/ovid_gguf/tool_args.h"

namespace ovid::tools {
namespace {

constexpr char kCommand[] = "dequant";
constexpr char kUsage[] =
    "usage: ovid-gguf dequant FILE TENSOR -o OUT [--dtype f32|f16|bf16] [--threads N]\n"
    "  Writes TENSOR of the GGUF FILE to OUT as raw little-endian floats (default f32),\n"
    "  row-major in PyTorch shape order.\n";

absl::Status Dequant(const std::string& path, const std::string& name, const std::string& out,
                     FloatFormat format, int threads) {
  absl::StatusOr<std::unique_ptr<gguf::GgufFile>> file = gguf::GgufFile::Open(path);
  if (!file.ok()) return file.status();
  const gguf::TensorInfo* t = (*file)->FindTensor(name);
  if (t == nullptr) {
    std::vector<std::string> names;
    for (const gguf::TensorInfo& info : (*file)->tensors()) names.push_back(info.name);
    const std::vector<std::string> close = SuggestNames(name, names);
    return absl::NotFoundError(absl::StrCat(
        path, ": no tensor named '", name, "'",
        close.empty() ? "" : absl::StrCat(" (did you mean: ", absl::StrJoin(close, ", "), "?)")));
  }
  if (!GgmlInfo(t->type).dequantizable) {
    return absl::UnimplementedError(absl::StrCat(path, ": tensor '", name, "' has type ",
                                                 GgmlTypeName(t->type),
                                                 ", which ovid cannot dequantize"));
  }
  // Through a temporary file renamed at the end (AtomicFile): OUT may even be the input, which
  // is still being read through its mapping, and a failed run leaves nothing under OUT.
  absl::StatusOr<std::unique_ptr<gguf::AtomicFile>> file_out = gguf::AtomicFile::Create(out);
  if (!file_out.ok()) return file_out.status();
  const std::span<const uint8_t> data = (*file)->TensorData(*t);
  const int64_t row_elements = t->RowElements();
  const int64_t row_bytes = GgmlRowBytes(t->type, row_elements);
  const int64_t rows_per_slice =
      std::max<int64_t>(1, kSliceElements / std::max<int64_t>(1, row_elements));
  std::vector<uint8_t> buf;
  absl::Status status;
  for (int64_t row = 0; row < t->Rows() && status.ok(); row += rows_per_slice) {
    const int64_t rows = std::min(rows_per_slice, t->Rows() - row);
    buf.resize(static_cast<size_t>(rows * row_elements * FloatFormatBytes(format)));
    if (!DequantizeTensor(t->type, data.data() + row * row_bytes, buf.data(), format, rows,
                          row_elements, threads)) {
      status = absl::InternalError(absl::StrCat(path, ": tensor '", name, "': decoding failed"));
    } else {
      status = (*file_out)->Write(buf.data(), buf.size());
    }
  }
  if (status.ok()) status = (*file_out)->Commit();
  return status;
}

}  // namespace

int RunDequant(const Args& args) {
  absl::StatusOr<ParsedArgs> parsed =
      ParseArgs(args, {"-o", "--output", "--dtype", "--threads"}, {});
  if (!parsed.ok()) return UsageError(kCommand, std::string(parsed.status().message()), kUsage);
  if (parsed->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (parsed->positional.size() != 2) {
    return UsageError(kCommand, "expected FILE and TENSOR", kUsage);
  }
  std::optional<std::string> out = parsed->Get("-o");
  if (!out) out = parsed->Get("--output");
  if (!out) return UsageError(kCommand, "missing -o OUT", kUsage);
  const std::string dtype = parsed->Get("--dtype").value_or("f32");
  FloatFormat format;
  if (dtype == "f32") {
    format = FloatFormat::kF32;
  } else if (dtype == "f16") {
    format = FloatFormat::kF16;
  } else if (dtype == "bf16") {
    format = FloatFormat::kBF16;
  } else {
    return UsageError(kCommand, absl::StrCat("--dtype: unknown '", dtype, "' (f32, f16, bf16)"),
                      kUsage);
  }
  absl::StatusOr<int> threads = ThreadsOption(*parsed);
  if (!threads.ok()) return UsageError(kCommand, std::string(threads.status().message()), kUsage);
  const absl::Status s =
      Dequant(parsed->positional[0], parsed->positional[1], *out, format, *threads);
  return s.ok() ? 0 : Fail(kCommand, s);
}

}  // namespace ovid::tools
