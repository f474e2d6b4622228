#!/usr/bin/env bash
# The main job of `make run`: makes a small default model, starts the `ovid` daemon on it, runs
# one `ovidctl generate` against it, stops the daemon (SIGTERM: it drains and exits 0) and says
# where the output went.
#
# usage: scripts/run-demo.sh BIN_DIR OUT_DIR
# The model is Ovi's real tensor set at a tiny size (ovid-gguf synth --preset ovi-tiny, Q4_K_M,
# random weights), so the output is noise-shaped latents, not a video: the point is the path a
# real request takes. The daemon runs on the CPU, so this works on any machine.
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

say "model: ovid-gguf synth $model --preset ovi-tiny --type Q4_K_M"
"$bin/ovid-gguf" synth "$model" --preset ovi-tiny --type Q4_K_M --seed 1 | tail -n 1

# The daemon has no text encoder yet: the prompt and the negatives go in as embeddings
# (UMT5-shaped: [tokens, text_dim]), here random ones of the tiny model's width.
text_dim=$("$bin/ovid-gguf" inspect --json "$model" |
  "$python" -c 'import json,sys; t=json.load(sys.stdin)["tensors"]; print(next(x["shape"][-1] for x in t if x["name"]=="video_model.text_embedding.0.weight"))')
"$python" - "$out/embedding.safetensors" "$text_dim" <<'PY'
import sys
import numpy as np
from safetensors.numpy import save_file
rng = np.random.default_rng(0)
dim = int(sys.argv[2])
save_file({name: rng.standard_normal((12, dim)).astype(np.float32)
           for name in ("context", "video_negative", "audio_negative")}, sys.argv[1])
PY

say "daemon: ovid --model $model --device cpu (log: $log)"
"$bin/ovid" --model="$model" --device=cpu --listen=127.0.0.1:0 --metrics-listen=127.0.0.1:0 \
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

say "ovidctl generate --steps 4 --seed 7 --out-dir $out"
"$bin/ovidctl" --address="127.0.0.1:$port" generate --embedding "$out/embedding.safetensors" \
  --steps 4 --seed 7 --output-format latents --out-dir "$out"

say "stopping the daemon (SIGTERM)"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
trap - EXIT
[ "$rc" -eq 0 ] || { cat "$log"; echo "[run] ovid exited with $rc" >&2; exit 1; }
say "done: the output (latents, safetensors) is in $out; the daemon's log is $log"
