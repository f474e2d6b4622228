#!/usr/bin/env bash
# The UMT5 encoder and the Wan VAE on the GPU against their own CPU f32 output, on tiny random
# weights: the CUDA paths' smoke test until the pipeline runs them. Run on the GPU machine after
# `source .device-deps/env.sh`, with build-devcheck/ (git-ignored, sent with `carry`) holding
# vae_tiny.safetensors and latents.safetensors made here with the reference tests' helper:
#   OVID_BIN=build/bin .venv/bin/python -c 'import sys, torch; sys.path.insert(0, "tests/wan_vae");
#   from tiny_wan_vae import make_tiny, save_diffusers; from safetensors.torch import save_file;
#   save_diffusers(make_tiny(0), "build-devcheck/vae_tiny.safetensors");
#   save_file({"latents": torch.randn(48, 5, 6, 8, generator=torch.Generator().manual_seed(3))},
#             "build-devcheck/latents.safetensors")'
# NVIDIA_TF32_OVERRIDE=0 in the environment takes TF32 out of cuDNN's f32 convolutions.
set -euo pipefail
b=build-device
cmake --preset device -B $b -DOVID_TESTS=ON >/dev/null
ninja -C $b ovid-umt5-cli ovid-vae-cli ovid-gguf >/dev/null
d=build-devcheck
$b/bin/ovid-gguf synth $d/umt5_tiny.gguf --preset umt5-tiny --seed 1 | tail -n 1
$b/bin/ovid-gguf synth $d/umt5_tiny_q8.gguf --preset umt5-tiny --type Q8_0 --seed 1 | tail -n 1
# shellcheck disable=SC2054  # the commas belong to the --ids values
ids=(--ids 5,17,200,3,9,44,1 --ids 8,2,1)
for m in umt5_tiny umt5_tiny_q8; do
  $b/bin/ovid-umt5-cli --model $d/$m.gguf "${ids[@]}" --out $d/$m.cpu.safetensors --device cpu
  $b/bin/ovid-umt5-cli --model $d/$m.gguf "${ids[@]}" --out $d/$m.cuda32.safetensors --device cuda --dtype f32
  $b/bin/ovid-umt5-cli --model $d/$m.gguf "${ids[@]}" --out $d/$m.cuda16.safetensors --device cuda --dtype bf16
done
$b/bin/ovid-vae-cli --model $d/vae_tiny.safetensors --latents $d/latents.safetensors --out $d/vae.cpu.safetensors --device cpu
$b/bin/ovid-vae-cli --model $d/vae_tiny.safetensors --latents $d/latents.safetensors --out $d/vae.cuda32.safetensors --device cuda --dtype f32
$b/bin/ovid-vae-cli --model $d/vae_tiny.safetensors --latents $d/latents.safetensors --out $d/vae.cuda32c2.safetensors --device cuda --dtype f32 --chunk 2
$b/bin/ovid-vae-cli --model $d/vae_tiny.safetensors --latents $d/latents.safetensors --out $d/vae.cuda16.safetensors --device cuda --dtype bf16
python3 - <<'PY'
from safetensors.torch import load_file
d = "build-devcheck"
def rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())
for m in ("umt5_tiny", "umt5_tiny_q8"):
    cpu = load_file(f"{d}/{m}.cpu.safetensors")
    for tag in ("cuda32", "cuda16"):
        got = load_file(f"{d}/{m}.{tag}.safetensors")
        print(m, tag, {k: f"{rel(got[k], cpu[k]):.2e}" for k in sorted(cpu)})
cpu = load_file(f"{d}/vae.cpu.safetensors")
for tag in ("cuda32", "cuda32c2", "cuda16"):
    got = load_file(f"{d}/vae.{tag}.safetensors")
    print("wan_vae", tag, {k: f"{rel(got[k], cpu[k]):.2e} shape {tuple(got[k].shape)}" for k in sorted(cpu)})
PY
