"""Build hook: generates ovid_client/_gen/ before setuptools looks at the packages, so that a
wheel or an install from a fresh clone carries the stubs (they are never committed). It runs at
every setup.py invocation (metadata, sdist, wheel) because setuptools checks that the listed
package folders exist already while preparing metadata. Configuration lives in pyproject.toml."""
import os
import subprocess
import sys
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).resolve().parent


def generate_stubs():
    proto = HERE.parent.parent / "proto" / "ovid" / "v1" / "generation.proto"
    if proto.exists():
        # This interpreter is the build environment's: it has the grpcio-tools of
        # [build-system]. generate.sh does nothing when the stubs are current.
        subprocess.run(["bash", str(HERE / "generate.sh")], check=True,
                       env=dict(os.environ, PYTHON=sys.executable))
    elif not (HERE / "ovid_client" / "_gen" / "generation_pb2.py").exists():
        raise SystemExit("ovid-client: no proto/ to generate the stubs from and no "
                         "ovid_client/_gen/; build from a clone of the ovid repository")


generate_stubs()
setup()
