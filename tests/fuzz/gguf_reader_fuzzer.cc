// libFuzzer target for the GGUF reader: any bytes must either parse or fail with a Status, never
// crash, leak, hit undefined behaviour or read outside the buffer (built with ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/gguf/gguf_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = ovid::gguf::GgufFile::FromBuffer("fuzz.gguf", std::span<const uint8_t>(data, size));
  if (!file.ok()) return 0;
  // Touch everything a consumer would, so an accepted-but-inconsistent file shows up as an
  // out-of-bounds read here rather than in the engine.
  volatile uint64_t sink = 0;
  for (const auto& kv : (*file)->metadata()) sink = sink + kv.value.ToString(4).size();
  for (const auto& t : (*file)->tensors()) {
    const auto bytes = (*file)->TensorData(t);
    if (!bytes.empty()) sink = sink + bytes.front() + bytes.back();
    if ((*file)->FindTensor(t.name) != &t) __builtin_trap();
  }
  return 0;
}
