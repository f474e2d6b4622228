"""Writes wgmma256.inc: the inline-asm wrapper of wgmma m64n256k16 (bf16, fp32 accumulators,
both operands in shared memory) that large_m_gemm.cu and mixed_gemm*.cu include. The operand
list is mechanical (128 accumulator registers), so it is generated rather than typed."""
N = 128
regs = ", ".join(f"%{i}" for i in range(N))
outs = ", ".join(f'"+f"(d[{i}])' for i in range(N))
text = f'''__device__ __forceinline__ void Wgmma256(float (&d)[128], uint64_t desc_a, uint64_t desc_b) {{
  asm volatile(
      "{{\\n.reg .pred p;\\nsetp.ne.b32 p, %{N + 2}, 0;\\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {{"
      "{regs}"
      "}}, %{N}, %{N + 1}, p, 1, 1, 0, 0;\\n}}\\n"
      : {outs}
      : "l"(desc_a), "l"(desc_b), "r"(1));
}}
'''
with open("wgmma256.inc", "w") as f:
    f.write(text)
