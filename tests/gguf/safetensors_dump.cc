// safetensors_dump FILE: what SafetensorsFile reads, as JSON (tensors with dtype, torch shape,
// absolute file offset and byte count; metadata), for the python safetensors interop test.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/gguf/safetensors_file.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: safetensors_dump FILE\n");
    return 2;
  }
  auto file = ovid::gguf::SafetensorsFile::Open(argv[1]);
  if (!file.ok()) {
    std::fprintf(stderr, "safetensors_dump: %s\n", file.status().ToString().c_str());
    return 1;
  }
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const auto& t : (*file)->tensors()) {
    const auto data = (*file)->Data(t);
    tensors.push_back({{"name", t.name},
                       {"dtype", ovid::gguf::StDtypeName(t.dtype)},
                       {"shape", t.shape},
                       {"n_elements", t.n_elements},
                       {"file_offset", (*file)->data_offset() + t.begin},
                       {"nbytes", data.size()}});
  }
  nlohmann::ordered_json out = {{"tensors", tensors}, {"metadata", (*file)->metadata()}};
  std::puts(out.dump(1).c_str());
  return 0;
}
