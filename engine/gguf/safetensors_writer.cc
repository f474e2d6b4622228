#include "engine/gguf/safetensors_writer.h"

#include "engine/gguf/safetensors_stream_writer.h"

namespace ovid::gguf {

namespace {

std::vector<SafetensorsPlan> Plan(const std::vector<SafetensorsEntry>& entries) {
  std::vector<SafetensorsPlan> plan;
  for (const SafetensorsEntry& e : entries)
    plan.push_back({e.name, e.dtype, e.shape, e.data.size()});
  return plan;
}

}  // namespace

absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<SafetensorsEntry>& entries,
    const std::map<std::string, std::string>& metadata) {
  absl::StatusOr<std::string> header = SafetensorsHeader(Plan(entries), metadata);
  if (!header.ok()) return header.status();
  std::string out = *std::move(header);
  for (const SafetensorsEntry& e : entries) {
    out.append(reinterpret_cast<const char*>(e.data.data()), e.data.size());
  }
  return out;
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                              const std::map<std::string, std::string>& metadata) {
  // Streamed from the entries' own buffers: no second copy of the data in memory.
  return WriteSafetensorsStreaming(
      path, Plan(entries), metadata,
      [&](size_t i, std::vector<uint8_t>*) -> absl::StatusOr<std::span<const uint8_t>> {
        return entries[i].data;
      });
}

}  // namespace ovid::gguf
