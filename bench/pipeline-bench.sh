#!/usr/bin/env bash
# The whole generation pipeline on the GPU machine, stage by stage: full-size random-weight
# components (Ovi Q4_K_M lazy, UMT5-XXL Q8_0, Wan2.2 VAE f32, MMAudio 16 kHz VAE, BigVGAN 16 kHz)
# through ovid-pipeline-bench at 704x704 5 s and 960x960 10 s in several memory modes, then the
# effect of bf16 decoding on the output (the same latents decoded in f32 and bf16). Run after
# `source .device-deps/env.sh`, with build-devcheck/spiece.model (git-ignored, sent with `carry`)
# made here by scripts' venv:
#   .venv/bin/python bench/pipeline/train_bench_tokenizer.py build-devcheck/spiece.model
#
# usage: bench/pipeline-bench.sh [STEPS]      (default 2; the denoise time scales with it)
# env:   BUILD_DIR (default build-device), RESULTS_DIR (default bench/results), MODES (all;
#        "" only builds and makes the files), QUALITY (1: the bf16-vs-f32 comparison; 0: skip),
#        RUNS (jobs per mode, default 2: the first one pays one-time library set-up)
# The tokenizer is a small SentencePiece model trained from generated text (no download): it splits
# the bench prompt into more pieces than umt5's would, so the text stage is timed on a longer
# prompt than real use.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
steps=${1:-2}
build=${BUILD_DIR:-$root/build-device}
results=${RESULTS_DIR:-$root/bench/results}
modes=${MODES-"704-f32 960-f32 960-bf16-offload-text 960-bf16-offload-all"}
quality=${QUALITY:-1}
mkdir -p "$results"
cd "$root"
# shellcheck source=bench/full-model.sh
. "$root/bench/full-model.sh"
build_device_targets "$build" ovid-pipeline-bench ovid-gguf ovid-vae-cli ovid-audio-cli

# Components, made once per machine and kept in the build folder.
once() {  # once FILE synth-args...
  local file=$1
  shift
  if [ ! -f "$file" ]; then
    local start=$SECONDS
    "$build/bin/ovid-gguf" synth "$file.part" "$@" --seed 1 | tail -n 1 >&2
    mv "$file.part" "$file"
    echo "synth $(basename "$file"): $((SECONDS - start)) s" >&2
  fi
}
ovi720=$(full_model "$build" Q4_K_M)
ovi960=$build/ovi-full-960x960_10s-Q4_K_M.gguf
once "$ovi960" --preset ovi-full --type Q4_K_M --variant 960x960_10s
umt5=$build/umt5-xxl-q8_0.gguf
once "$umt5" --preset umt5-xxl --type Q8_0
vae=$build/wan-vae-2.2-f32.safetensors
once "$vae" --preset wan-vae-2.2 --dtype f32
mmaudio=$build/mmaudio-vae-16k.safetensors
once "$mmaudio" --preset mmaudio-vae-16k
bigvgan=$build/bigvgan-16k.safetensors
once "$bigvgan" --preset bigvgan-16k
spiece=$root/build-devcheck/spiece.model

card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | tr ' ' '-' | tr -cd 'A-Za-z0-9-')
out="$results/pipeline-$card-$(date -u +%Y%m%dT%H%M%SZ).txt"
{
  echo "# $card, $(date -u +%FT%TZ), commit ${OVID_COMMIT:-unknown}, $steps steps, Q4_K_M lazy"
  for mode in $modes; do
    args=(--text-encoder "$umt5" --tokenizer "$spiece" --vae "$vae" --audio-vae "$mmaudio"
          --vocoder "$bigvgan" --steps "$steps" --runs "${RUNS:-2}")
    case $mode in
      704-*) args+=(--model "$ovi720") ;;
      960-*) args+=(--model "$ovi960") ;;
    esac
    case $mode in
      *-bf16*) args+=(--vae-dtype bf16 --audio-dtype bf16) ;;
    esac
    case $mode in
      *-offload-text) args+=(--offload text) ;;
      *-offload-all) args+=(--offload "text,vae,audio") ;;
      *-offload-everything) args+=(--offload "text,vae,audio,denoiser") ;;
    esac
    echo "## $mode"
    "$build/bin/ovid-pipeline-bench" "${args[@]}" 2>&1 | grep -v '^ovid: ' || echo "FAILED: $mode"
  done

  [ "$quality" = 1 ] || exit 0
  # bf16 against f32 decoding of the same random latents: 2 latent frames (5 video frames) at
  # 704x704 for the video VAE, 157 latents (5 s) for the audio.
  work=$(mktemp -d)
  python3 - "$work" <<'PY'
import sys, torch
from safetensors.torch import save_file
g = torch.Generator().manual_seed(0)
save_file({"latents": torch.randn(48, 2, 44, 44, generator=g)}, f"{sys.argv[1]}/v.safetensors")
save_file({"x": torch.randn(157, 20, generator=g)}, f"{sys.argv[1]}/a.safetensors")
PY
  for dt in f32 bf16; do
    "$build/bin/ovid-vae-cli" --model "$vae" --latents "$work/v.safetensors" \
      --out "$work/v.$dt.safetensors" --device cuda --dtype "$dt" >/dev/null
    "$build/bin/ovid-audio-cli" vae "$mmaudio" "$work/a.safetensors" "$work/mel.$dt.safetensors" \
      --device cuda --dtype "$dt" >/dev/null
    "$build/bin/ovid-audio-cli" vocoder "$bigvgan" "$work/mel.f32.safetensors" \
      "$work/wav.$dt.safetensors" --device cuda --dtype "$dt" >/dev/null
  done
  python3 - "$work" <<'PY'
import sys, torch
from safetensors.torch import load_file
w = sys.argv[1]
v32, v16 = (load_file(f"{w}/v.{d}.safetensors")["video"] for d in ("f32", "bf16"))
# As the MP4/PNG path converts: [-1, 1] -> 0..255 truncated.
u8 = lambda x: ((x.clamp(-1, 1) + 1) / 2 * 255).to(torch.uint8).double()
mse = ((u8(v32) - u8(v16)) ** 2).mean()
print(f"video VAE bf16 vs f32 (5 frames 704x704, 8-bit): PSNR {10 * torch.log10(255**2 / mse):.1f} dB, "
      f"max |diff| {(v32 - v16).abs().max():.4f}")
m32, m16 = (load_file(f"{w}/mel.{d}.safetensors")["y"] for d in ("f32", "bf16"))
print(f"audio VAE bf16 vs f32: relative error of the mel {(m16 - m32).norm() / m32.norm():.2e}")
a32, a16 = (load_file(f"{w}/wav.{d}.safetensors")["y"] for d in ("f32", "bf16"))
snr = 10 * torch.log10(a32.pow(2).sum() / (a16 - a32).pow(2).sum())
print(f"vocoder bf16 vs f32 (same mel): SNR {snr:.1f} dB")
PY
  rm -rf "$work"
} | tee "$out"
echo "wrote $out"
