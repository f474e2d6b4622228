"""Shared fixtures of the client tests: the generated stubs (clients/python/generate.sh, a no-op
when current), the Python client on sys.path, a fake daemon per test, and ovidctl."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("OVID_ROOT", Path(__file__).resolve().parents[2]))
BIN = Path(os.environ.get("OVID_BIN", ROOT / "build" / "bin"))
OVIDCTL = BIN / "ovidctl"

# Runs at import, before fake_server (which imports ovid_client) is collected: the stubs must
# exist first. generate.sh rewrites nothing when they are already current.
subprocess.run(["bash", str(ROOT / "clients" / "python" / "generate.sh")], check=True,
               env=dict(os.environ, PYTHON=sys.executable))
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_server import FakeServer  # noqa: E402


@pytest.fixture
def server():
    srv = FakeServer()
    yield srv
    srv.stop()


def ovidctl(*args, env=None, timeout=60):
    """Runs ovidctl with OVID_* variables cleared (plus `env`); returns the CompletedProcess."""
    if not OVIDCTL.exists():
        pytest.fail(f"{OVIDCTL} not built (ninja ovidctl)")
    base = {k: v for k, v in os.environ.items() if not k.startswith("OVID_")}
    base.update(env or {})
    return subprocess.run([str(OVIDCTL), *map(str, args)], capture_output=True, text=True,
                          env=base, timeout=timeout)
