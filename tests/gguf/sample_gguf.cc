#include "tests/gguf/sample_gguf.h"

#include <limits>

#include "engine/gguf/status_macros.h"

namespace ovid::gguf::testing {

absl::Status PlanSample(GgufWriter* w) {
  OVID_RETURN_IF_ERROR(w->AddMetadata("general.architecture", Value::Str("ovi-test")));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.u8", Value::U8(200)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.i8", Value::I8(-100)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.u16", Value::U16(60000)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.i16", Value::I16(-30000)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.u32", Value::U32(4000000000u)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.i32", Value::I32(-2000000000)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.f32", Value::F32(3.14159274f)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.bool_true", Value::Bool(true)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.bool_false", Value::Bool(false)));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.string", Value::Str("hello, ovid \xE2\x9C\x93")));
  OVID_RETURN_IF_ERROR(
      w->AddMetadata("test.u64", Value::U64(std::numeric_limits<uint64_t>::max())));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.i64", Value::I64(std::numeric_limits<int64_t>::min())));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.f64", Value::F64(2.718281828459045)));
  OVID_RETURN_IF_ERROR(w->AddMetadata(
      "test.arr_u8", Value::Arr(ValueType::kUint8, {Value::U8(1), Value::U8(2), Value::U8(255)})));
  OVID_RETURN_IF_ERROR(w->AddMetadata(
      "test.arr_i32", Value::Arr(ValueType::kInt32, {Value::I32(-1), Value::I32(7)})));
  OVID_RETURN_IF_ERROR(w->AddMetadata(
      "test.arr_f32", Value::Arr(ValueType::kFloat32, {Value::F32(0.5f), Value::F32(-2.25f)})));
  OVID_RETURN_IF_ERROR(w->AddMetadata(
      "test.arr_str",
      Value::Arr(ValueType::kString, {Value::Str("a"), Value::Str("bc"), Value::Str("")})));
  OVID_RETURN_IF_ERROR(w->AddMetadata(
      "test.arr_bool", Value::Arr(ValueType::kBool, {Value::Bool(true), Value::Bool(false)})));
  OVID_RETURN_IF_ERROR(w->AddMetadata("test.arr_empty", Value::Arr(ValueType::kUint32, {})));
  OVID_RETURN_IF_ERROR(w->AddMetadata(
      "test.nested_i16",
      Value::Arr(ValueType::kArray, {Value::Arr(ValueType::kInt16, {Value::I16(1), Value::I16(-2)}),
                                     Value::Arr(ValueType::kInt16, {Value::I16(3)})})));
  OVID_RETURN_IF_ERROR(w->AddMetadata(
      "test.nested_str",
      Value::Arr(ValueType::kArray,
                 {Value::Arr(ValueType::kString, {Value::Str("x")}),
                  Value::Arr(ValueType::kString, {Value::Str("y"), Value::Str("z")})})));
  OVID_RETURN_IF_ERROR(w->AddMetadata(
      "test.nested3",
      Value::Arr(
          ValueType::kArray,
          {Value::Arr(ValueType::kArray, {Value::Arr(ValueType::kUint64, {Value::U64(42)})})})));

  OVID_RETURN_IF_ERROR(w->AddTensor("t.f32", GgmlType::kF32, {8, 4}));
  OVID_RETURN_IF_ERROR(w->AddTensor("t.f16", GgmlType::kF16, {16, 2}));
  OVID_RETURN_IF_ERROR(w->AddTensor("t.bf16", GgmlType::kBF16, {32}));
  OVID_RETURN_IF_ERROR(w->AddTensor("t.q4_0", GgmlType::kQ4_0, {64, 2}));
  OVID_RETURN_IF_ERROR(w->AddTensor("t.q8_0", GgmlType::kQ8_0, {32, 3}));
  OVID_RETURN_IF_ERROR(w->AddTensor("t.q4_k", GgmlType::kQ4_K, {256, 2}));
  OVID_RETURN_IF_ERROR(w->AddTensor("t.q6_k", GgmlType::kQ6_K, {512}));
  // Conv3d patch embedding: [out, in, kt, kh, kw] in torch order, stored with 5 GGUF dims.
  return w->AddTensor("patch_embedding.weight", GgmlType::kF32, {2, 2, 1, 3, 4});
}

std::vector<uint8_t> SampleTensorBytes(size_t index, uint64_t nbytes) {
  std::vector<uint8_t> out(nbytes);
  for (uint64_t j = 0; j < nbytes; ++j) out[j] = static_cast<uint8_t>(131 * j + 17 * index + 7);
  return out;
}

absl::Status WriteSample(const std::string& path, uint32_t alignment) {
  GgufWriter writer(alignment);
  OVID_RETURN_IF_ERROR(PlanSample(&writer));
  const auto& plan = writer.tensors();
  return writer.Write(path, [&](const GgufWriter::PlannedTensor& t, std::vector<uint8_t>* out) {
    const size_t index = &t - plan.data();
    *out = SampleTensorBytes(index, t.nbytes);
    return absl::OkStatus();
  });
}

}  // namespace ovid::gguf::testing
