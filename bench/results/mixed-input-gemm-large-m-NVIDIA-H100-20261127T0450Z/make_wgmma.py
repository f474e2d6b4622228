"""Writes wgmma256.inc and wgmma192.inc: inline-asm wrappers of wgmma m64n256k16 and m64n192k16
(bf16, fp32 accumulators, both operands in shared memory) that the programs in this folder
include. The operand lists are mechanical (N/2 accumulator registers), so they are generated
rather than typed."""


def wrapper(n_tokens):
    n = n_tokens // 2
    regs = ", ".join(f"%{i}" for i in range(n))
    outs = ", ".join(f'"+f"(d[{i}])' for i in range(n))
    return f'''__device__ __forceinline__ void Wgmma{n_tokens}(float (&d)[{n}], uint64_t desc_a, uint64_t desc_b) {{
  asm volatile(
      "{{\\n.reg .pred p;\\nsetp.ne.b32 p, %{n + 2}, 0;\\n"
      "wgmma.mma_async.sync.aligned.m64n{n_tokens}k16.f32.bf16.bf16 {{"
      "{regs}"
      "}}, %{n}, %{n + 1}, p, 1, 1, 0, 0;\\n}}\\n"
      : {outs}
      : "l"(desc_a), "l"(desc_b), "r"(1));
}}
'''


for tokens in (256, 192):
    with open(f"wgmma{tokens}.inc", "w") as f:
        f.write(wrapper(tokens))
