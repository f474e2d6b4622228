// libFuzzer target for the safetensors reader (JSON header + byte ranges), under ASan + UBSan.
#include <cstddef>
#include <cstdint>
#include <span>

#include "engine/gguf/safetensors_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = ovid::gguf::SafetensorsFile::FromBuffer("fuzz.safetensors",
                                                      std::span<const uint8_t>(data, size));
  if (!file.ok()) return 0;
  volatile uint64_t sink = 0;
  for (const auto& t : (*file)->tensors()) {
    const auto bytes = (*file)->Data(t);
    if (!bytes.empty()) sink = sink + bytes.front() + bytes.back();
    if ((*file)->Find(t.name) == nullptr) __builtin_trap();
  }
  return 0;
}
