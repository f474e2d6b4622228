#!/usr/bin/env bash
# The main job of `make run`: makes a small default model, starts the `ovid` daemon on it, runs
# one `ovidctl generate` against it, stops the daemon (SIGTERM: it drains and exits 0) and says
# where the output went.
#
# usage: scripts/run-demo.sh BIN_DIR OUT_DIR
# Every stage has its real tensor set at a tiny size, with random weights (`ovid-gguf synth`):
# the Ovi denoiser (ovi-tiny, Q4_K_M), a UMT5 encoder as wide as its text input, the Wan2.2 VAE,
# the MMAudio VAE and BigVGAN; the tokenizer is a small SentencePiece model trained here. So the
# output is noise, but a real MP4 with sound, made by the path a real request takes: prompt ->
# text encoder -> denoiser -> audio and video decoders -> MP4. The daemon runs on the CPU, so
# this works on any machine.
set -euo pipefail
bin=$(cd "${1:?usage: run-demo.sh BIN_DIR OUT_DIR}" && pwd)
out=${2:?usage: run-demo.sh BIN_DIR OUT_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=$root/.venv/bin/python
mkdir -p "$out"
out=$(cd "$out" && pwd)
model=$out/ovi-tiny-q4km.gguf
log=$out/ovid.log

say() { echo "[run] $*"; }

say "components: ovid-gguf synth (ovi-tiny Q4_K_M, umt5-tiny, wan-vae-tiny, mmaudio-vae-tiny, bigvgan-tiny)"
"$bin/ovid-gguf" synth "$model" --preset ovi-tiny --type Q4_K_M --seed 1 | tail -n 1
"$bin/ovid-gguf" synth "$out/umt5-tiny.gguf" --preset umt5-tiny --d-model 256 --seed 1 | tail -n 1
"$bin/ovid-gguf" synth "$out/wan-vae-tiny.safetensors" --preset wan-vae-tiny --seed 1 | tail -n 1
"$bin/ovid-gguf" synth "$out/mmaudio-vae-tiny.safetensors" --preset mmaudio-vae-tiny --seed 1 |
  tail -n 1
"$bin/ovid-gguf" synth "$out/bigvgan-tiny.safetensors" --preset bigvgan-tiny --seed 1 | tail -n 1
say "tokenizer: a SentencePiece model trained on a few sentences ($out/spiece.model)"
"$python" "$root/bench/pipeline/train_bench_tokenizer.py" "$out/spiece.model"

say "daemon: ovid --model $model --device cpu (log: $log)"
"$bin/ovid" --model="$model" --device=cpu --listen=127.0.0.1:0 --metrics-listen=127.0.0.1:0 \
  --text-encoder="$out/umt5-tiny.gguf" --tokenizer="$out/spiece.model" \
  --vae="$out/wan-vae-tiny.safetensors" --audio-vae="$out/mmaudio-vae-tiny.safetensors" \
  --vocoder="$out/bigvgan-tiny.safetensors" \
  >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
port=
for _ in $(seq 1 600); do
  port=$(sed -n 's/.*INFO listening .*port=\([0-9]*\).*/\1/p' "$log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "[run] ovid exited early" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$log"; echo "[run] ovid did not start" >&2; exit 1; }
for _ in $(seq 1 600); do
  "$bin/ovidctl" --address="127.0.0.1:$port" health --service ovid.v1.Generation >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "[run] ovid exited early" >&2; exit 1; }
  sleep 0.2
done

prompt="A woman walks through the rain at night and says <S>It never stops raining here.<E> <AUDCAP>Rain, distant traffic<ENDAUDCAP>"
say "ovidctl generate --prompt \"$prompt\" -o $out/demo.mp4"
"$bin/ovidctl" --address="127.0.0.1:$port" generate --prompt "$prompt" --steps 4 --seed 7 \
  -o "$out/demo.mp4"
if command -v ffprobe >/dev/null; then
  say "ffprobe $out/demo.mp4:"
  ffprobe -v error -show_entries stream=codec_type,codec_name,width,height,nb_frames,sample_rate,duration \
    -of compact "$out/demo.mp4"
fi

say "stopping the daemon (SIGTERM)"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
trap - EXIT
[ "$rc" -eq 0 ] || { cat "$log"; echo "[run] ovid exited with $rc" >&2; exit 1; }
say "done: the video with its sound is $out/demo.mp4 (noise: random weights); the daemon's log is $log"
