// write_sample_gguf OUT.gguf [ALIGNMENT]: writes tests/gguf/sample_gguf.h's sample with
// GgufWriter, for the gguf-py interop test.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/gguf/sample_gguf.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: write_sample_gguf OUT.gguf [ALIGNMENT]\n");
    return 2;
  }
  const uint32_t alignment = argc == 3 ? static_cast<uint32_t>(std::atoi(argv[2])) : 32;
  absl::Status status = ovid::gguf::testing::WriteSample(argv[1], alignment);
  if (!status.ok()) {
    std::fprintf(stderr, "write_sample_gguf: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
