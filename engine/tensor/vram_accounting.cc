// File: engine/tensor/vram_accounting.cc
#include "engine/tensor/vram_accounting.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace ovid {
namespace {
std::string Mb(int64_t bytes) {
  return absl::StrFormat("%.1f MB", static_cast<double>(bytes) / 1e6);
}
}  // namespace

std::string VramAccounting::Summary() const {
  const double saved =
      bf16_equivalent_bytes > 0
          ? 100.0 * (1.0 - static_cast<double>(weight_bytes) / bf16_equivalent_bytes)
          : 0.0;
  std::string line = absl::StrFormat(
      "quantized %d/%d tensors; weights %s resident vs %s bf16 (%.1f%% saved); workspace %s",
      quantized, tensors, Mb(weight_bytes), Mb(bf16_equivalent_bytes), saved, Mb(workspace_bytes));
  absl::StrAppend(&line, "; cache ", Mb(cache_bytes), " (", cached_layers, " layers)");
  if (cached_layers > 0) {
    absl::StrAppend(&line, absl::StrFormat(" saving an estimated %.3f ms per step",
                                           cache_saved_seconds_per_step * 1e3));
  }
  if (allocator.valid) {
    absl::StrAppend(&line, "; torch allocated ", Mb(allocator.allocated), ", reserved ",
                    Mb(allocator.reserved), ", peak ", Mb(allocator.peak_allocated));
  }
  if (load_seconds > 0) {
    absl::StrAppend(&line, absl::StrFormat("; loaded in %.2f s (%.2f GB/s) on %s, mode %s",
                                           load_seconds, upload_gbps, device, mode));
  }
  if (dispatch_seconds > 0) {
    absl::StrAppend(&line, absl::StrFormat("; fused dispatch measured in %.2f s", dispatch_seconds));
  }
  return line;
}

std::string VramAccounting::ByTypeLine() const {
  std::vector<std::string> parts;
  for (const auto& [type, bytes] : bytes_by_type)
    parts.push_back(absl::StrCat(type, " ", Mb(bytes)));
  return absl::StrJoin(parts, ", ");
}

}  // namespace ovid
