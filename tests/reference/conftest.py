"""Fixtures of the reference tests (helpers live in ref_helpers.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ref_helpers import synth  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bf16(tmp_path_factory):
    return synth(tmp_path_factory.mktemp("gguf") / "ovi-tiny-bf16.gguf", "BF16", seed=3)
