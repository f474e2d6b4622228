"""clients/python/generate.sh on a scratch copy of the repository layout: it writes importable
stubs with the package-relative import, does nothing while they are current, and regenerates
when the proto changes."""
import os
import shutil
import subprocess
import sys

from conftest import ROOT


def make_tree(tmp_path):
    (tmp_path / "proto" / "ovid" / "v1").mkdir(parents=True)
    shutil.copy(ROOT / "proto" / "ovid" / "v1" / "generation.proto",
                tmp_path / "proto" / "ovid" / "v1")
    (tmp_path / "clients" / "python" / "ovid_client").mkdir(parents=True)
    shutil.copy(ROOT / "clients" / "python" / "generate.sh", tmp_path / "clients" / "python")
    return tmp_path / "clients" / "python"


def generate(pkg_root):
    return subprocess.run(["bash", str(pkg_root / "generate.sh")], capture_output=True, text=True,
                          check=True, env=dict(os.environ, PYTHON=sys.executable)).stdout


def test_generates_once_and_again_when_the_proto_changes(tmp_path):
    pkg_root = make_tree(tmp_path)
    gen = pkg_root / "ovid_client" / "_gen"
    assert "wrote" in generate(pkg_root)
    grpc_module = (gen / "generation_pb2_grpc.py").read_text()
    assert "from . import generation_pb2 as" in grpc_module
    assert "from ovid.v1 import" not in grpc_module
    assert (gen / "generation_pb2.pyi").exists()
    stamp = (gen / ".stamp").read_text()
    mtime = (gen / "generation_pb2.py").stat().st_mtime_ns

    assert generate(pkg_root) == ""  # current: nothing rewritten
    assert (gen / "generation_pb2.py").stat().st_mtime_ns == mtime

    proto = tmp_path / "proto" / "ovid" / "v1" / "generation.proto"
    proto.write_text(proto.read_text() + "\nmessage AddedLater { string note = 1; }\n")
    assert "wrote" in generate(pkg_root)
    assert (gen / ".stamp").read_text() != stamp
    assert "AddedLater" in (gen / "generation_pb2.pyi").read_text()
    assert not list((pkg_root / "ovid_client").glob(".gen-stage.*"))  # no staging left behind


def test_generated_package_imports_and_matches_the_proto(tmp_path):
    pkg_root = make_tree(tmp_path)
    generate(pkg_root)
    (pkg_root / "ovid_client" / "__init__.py").write_text("")
    # A separate interpreter: this one already holds ovid.v1 in its descriptor pool.
    code = ("from ovid_client._gen import generation_pb2 as pb, generation_pb2_grpc as g;"
            "print(pb.DESCRIPTOR.name, sorted(pb.DESCRIPTOR.services_by_name['Generation']"
            ".methods_by_name), hasattr(g, 'GenerationStub'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=pkg_root, capture_output=True,
                         text=True, check=True).stdout
    assert out.split(" ", 1)[0] == "ovid/v1/generation.proto"
    for rpc in ("CancelJob", "Generate", "GetJob", "GetModel", "ListJobs", "WatchJob"):
        assert rpc in out
    assert out.strip().endswith("True")
