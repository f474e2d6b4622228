"""The generated ovid.v1 modules (ovid_client/_gen/, written by clients/python/generate.sh).

Kept in one place so that a checkout without generated stubs fails with the command that fixes
it rather than a bare ModuleNotFoundError."""
try:
    from ._gen import generation_pb2 as pb
    from ._gen import generation_pb2_grpc as pb_grpc
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only on a fresh clone
    raise ImportError(
        "ovid_client: the generated stubs are missing; run clients/python/generate.sh "
        "(or pip install clients/python, which runs it)") from exc

__all__ = ["pb", "pb_grpc"]
