// make_gguf_seeds DIR: writes a few small valid GGUF files (v2 and v3, every value type, nested
// arrays, quantized and 5-dim tensors, custom alignment) as the fuzzer's seed corpus.
#include <cstdio>
#include <fstream>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "tests/gguf/gguf_bytes.h"
#include "tests/gguf/sample_gguf.h"

namespace {

using ovid::gguf::testing::GgufBytes;

void Save(const std::string& path, const GgufBytes& b) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.bytes().data()), b.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_gguf_seeds DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  for (uint32_t alignment : {32u, 64u}) {
    absl::Status s = ovid::gguf::testing::WriteSample(
        dir + "/sample_" + std::to_string(alignment) + ".gguf", alignment);
    if (!s.ok()) {
      std::fprintf(stderr, "make_gguf_seeds: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  GgufBytes v2;
  v2.Header(2, 2, 2).KvStr("general.architecture", "ovi").Key("flag", 7).U8(1);
  v2.TensorInfo("a", {4}, 0, 0).TensorInfo("q", {32, 1}, 8, 32).PadTo(32);
  v2.Fill(16, 0x3C).PadTo(32).Fill(34, 0x01).PadTo(32);
  Save(dir + "/v2.gguf", v2);
  GgufBytes nested;
  nested.Header(1, 3).KvU32("general.alignment", 16);
  nested.Key("n", 9).U32(9).U64(2).U32(8).U64(1).Str("s").U32(6).U64(1).Put<float>(0.5f);
  nested.Key("i", 11).I64(-3);
  nested.TensorInfo("p", {1, 1, 1, 2, 2}, 30, 0).PadTo(16).Fill(8, 0x7F).PadTo(16);
  Save(dir + "/nested.gguf", nested);
  GgufBytes empty;
  empty.Header(0, 0);
  Save(dir + "/empty.gguf", empty);
  // A seed the reader refuses would only teach the fuzzer the error paths: check them all.
  for (const char* name : {"sample_32", "sample_64", "v2", "nested", "empty"}) {
    const std::string path = dir + "/" + name + ".gguf";
    auto file = ovid::gguf::GgufFile::Open(path);
    if (!file.ok()) {
      std::fprintf(stderr, "make_gguf_seeds: seed does not parse: %s\n",
                   file.status().ToString().c_str());
      return 1;
    }
  }
  return 0;
}
