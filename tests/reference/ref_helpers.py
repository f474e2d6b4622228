"""Helpers shared by the reference tests: synthetic Ovi GGUFs (ovid-gguf synth), the binaries,
and the relative error used by every comparison. (Not in conftest.py, so that `import` of it
cannot pick up another directory's conftest when several test directories run together.)"""
import os
import subprocess
from pathlib import Path

BIN_DIR = Path(os.environ.get("OVID_BIN", "build/bin"))
OVID_GGUF = BIN_DIR / "ovid-gguf"
OVID_FORWARD = BIN_DIR / "ovid-forward"


def rel(a, b):
    """‖a−b‖ / ‖b‖ in float64."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


def synth(path, type_="BF16", seed=0):
    """Writes an ovi-tiny GGUF with random weights (real key names) to `path`."""
    proc = subprocess.run([str(OVID_GGUF), "synth", str(path), "--preset", "ovi-tiny", "--type", type_,
                           "--seed", str(seed)], capture_output=True, text=True)
    assert proc.returncode == 0, f"ovid-gguf synth failed ({proc.returncode}):\n{proc.stderr}"
    return Path(path)
