// File: tests/kernels/blocks_cli.cc
// ovid-blocks-cli: a test-only bridge from raw files to the CPU block kernels, so the Python
// tests can compare them with gguf-py, the numpy port of ggml's quantizers, and ggml itself.
//   ovid-blocks-cli dequant TYPE f32|f16|bf16 IN OUT   raw blocks -> raw floats
//   ovid-blocks-cli quantize TYPE IN OUT               raw f32 -> raw blocks
//   ovid-blocks-cli rows TYPE f32|f16|bf16 ROW_ELEMENTS IN IDS OUT
//                                                      IDS: raw int64 row ids
// Exit status 0 on success, 1 on a failed operation, 2 on bad usage; errors go to stderr.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "kernels/cpu/dequantize.h"
#include "kernels/cpu/quantize.h"
#include "kernels/ggml_types.h"

namespace {

using ovid::FloatFormat;
using ovid::GgmlType;

std::optional<std::vector<char>> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

bool WriteFile(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  return static_cast<bool>(out);
}

std::optional<FloatFormat> ParseFormat(const std::string& s) {
  if (s == "f32") return FloatFormat::kF32;
  if (s == "f16") return FloatFormat::kF16;
  if (s == "bf16") return FloatFormat::kBF16;
  return std::nullopt;
}

int Usage() {
  std::fprintf(stderr,
               "usage: ovid-blocks-cli dequant TYPE f32|f16|bf16 IN OUT\n"
               "       ovid-blocks-cli quantize TYPE IN OUT\n"
               "       ovid-blocks-cli rows TYPE f32|f16|bf16 ROW_ELEMENTS IN IDS OUT\n");
  return 2;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "ovid-blocks-cli: %s\n", message.c_str());
  return 1;
}

int Run(const std::vector<std::string>& args) {
  if (args.size() < 2) return Usage();
  const std::string& cmd = args[0];
  const std::optional<GgmlType> type = ovid::GgmlTypeFromName(args[1]);
  if (!type) return Fail("unknown ggml type '" + args[1] + "'");
  const ovid::GgmlTypeInfo& info = ovid::GgmlInfo(*type);
  if (cmd == "dequant" && args.size() == 5) {
    const std::optional<FloatFormat> fmt = ParseFormat(args[2]);
    if (!fmt) return Fail("unknown output format '" + args[2] + "' (want f32, f16 or bf16)");
    const auto in = ReadFile(args[3]);
    if (!in) return Fail("cannot read " + args[3]);
    if (in->size() % info.type_size != 0) {
      return Fail(args[3] + ": " + std::to_string(in->size()) + " bytes is not a whole number of " +
                  info.name + " blocks (" + std::to_string(info.type_size) + " bytes each)");
    }
    const int64_t n = static_cast<int64_t>(in->size()) / info.type_size * info.block_size;
    std::vector<char> out(static_cast<size_t>(n * ovid::FloatFormatBytes(*fmt)));
    if (!ovid::DequantizeRow(*type, in->data(), out.data(), *fmt, n)) {
      return Fail(std::string("cannot dequantize type ") + info.name);
    }
    return WriteFile(args[4], out.data(), out.size()) ? 0 : Fail("cannot write " + args[4]);
  }
  if (cmd == "quantize" && args.size() == 4) {
    const auto in = ReadFile(args[2]);
    if (!in) return Fail("cannot read " + args[2]);
    const int64_t n = static_cast<int64_t>(in->size() / sizeof(float));
    if (in->size() % sizeof(float) != 0 || n % info.block_size != 0) {
      return Fail(args[2] + ": " + std::to_string(in->size()) + " bytes is not a whole number of " +
                  std::to_string(info.block_size) + "-float blocks");
    }
    std::vector<float> src(static_cast<size_t>(n));
    std::copy(in->begin(), in->end(), reinterpret_cast<char*>(src.data()));
    std::vector<char> out(static_cast<size_t>(n / info.block_size * info.type_size));
    if (!ovid::QuantizeTensor(*type, src.data(), out.data(), 1, n)) {
      return Fail(std::string("cannot quantize to type ") + info.name);
    }
    return WriteFile(args[3], out.data(), out.size()) ? 0 : Fail("cannot write " + args[3]);
  }
  if (cmd == "rows" && args.size() == 7) {
    const std::optional<FloatFormat> fmt = ParseFormat(args[2]);
    if (!fmt) return Fail("unknown output format '" + args[2] + "'");
    int64_t row_elements = 0;
    const auto [end, err] =
        std::from_chars(args[3].data(), args[3].data() + args[3].size(), row_elements);
    if (err != std::errc() || end != args[3].data() + args[3].size()) {
      return Fail("ROW_ELEMENTS '" + args[3] + "' is not an integer");
    }
    const auto in = ReadFile(args[4]);
    const auto ids = ReadFile(args[5]);
    if (!in || !ids) return Fail("cannot read " + args[4] + " or " + args[5]);
    if (row_elements <= 0 || row_elements % info.block_size != 0) {
      return Fail("ROW_ELEMENTS " + args[3] + " is not a positive multiple of " +
                  std::to_string(info.block_size));
    }
    const int64_t row_bytes = row_elements / info.block_size * info.type_size;
    const int64_t n_rows = static_cast<int64_t>(in->size()) / row_bytes;
    std::vector<int64_t> id_list(ids->size() / sizeof(int64_t));
    std::copy(ids->begin(), ids->begin() + static_cast<std::ptrdiff_t>(id_list.size() * 8),
              reinterpret_cast<char*>(id_list.data()));
    std::vector<char> out(id_list.size() * static_cast<size_t>(row_elements) *
                          static_cast<size_t>(ovid::FloatFormatBytes(*fmt)));
    if (!ovid::DequantizeRows(*type, in->data(), n_rows, row_elements, id_list.data(),
                              static_cast<int64_t>(id_list.size()), out.data(), *fmt)) {
      return Fail("DequantizeRows failed (unsupported type or row id out of range)");
    }
    return WriteFile(args[6], out.data(), out.size()) ? 0 : Fail("cannot write " + args[6]);
  }
  return Usage();
}

}  // namespace

int main(int argc, char** argv) { return Run(std::vector<std::string>(argv + 1, argv + argc)); }
