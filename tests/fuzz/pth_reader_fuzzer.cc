// libFuzzer target for the torch.save reader (zip directory, restricted unpickler, tensor
// views), under ASan + UBSan: whatever the bytes, it returns an error or tensors whose bytes
// lie inside the buffer.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/gguf/pth_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  auto file = ovid::gguf::PthFile::FromBuffer("fuzz.pth", bytes);
  if (!file.ok()) return 0;
  volatile uint64_t sink = 0;
  for (const char* select : {"", "generator", "model.a"}) {
    auto tensors = (*file)->Tensors(select);
    if (!tensors.ok()) continue;
    std::vector<uint8_t> scratch;
    for (const auto& t : *tensors) {
      const std::span<const uint8_t> view = ovid::gguf::PthFile::Contiguous(t, &scratch);
      if (view.size() != t.nbytes()) __builtin_trap();
      if (!view.empty()) sink = sink + view.front() + view.back();
    }
  }
  return 0;
}
