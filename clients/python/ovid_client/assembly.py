"""Reassembles OutputChunk events into whole outputs and verifies them.

The server cuts each output into chunks numbered from 0 with their byte offsets, and puts the
total size and SHA-256 on the last one. Anything out of order is an error, never silently
patched: a client that re-attached from the wrong event index must not produce a file that
merely looks complete."""
import hashlib

from .errors import OutputIntegrityError


class OutputAssembler:
    def __init__(self, job_id=""):
        self.job_id = job_id
        self._parts = {}  # format -> bytearray, outputs still being received
        self._next_seq = {}
        self._done = {}  # format -> bytes, verified

    def _fail(self, fmt, problem):
        raise OutputIntegrityError(f"output format {fmt}: {problem}", self.job_id)

    def add(self, chunk):
        fmt = chunk.format
        if fmt in self._done:
            self._fail(fmt, f"chunk seq {chunk.seq} after the last chunk")
        buf = self._parts.setdefault(fmt, bytearray())
        expected = self._next_seq.get(fmt, 0)
        if chunk.seq != expected:
            self._fail(fmt, f"chunk seq {chunk.seq}, expected {expected}")
        if chunk.offset != len(buf):
            self._fail(fmt, f"chunk {chunk.seq} at offset {chunk.offset}, expected {len(buf)}")
        buf += chunk.data
        self._next_seq[fmt] = expected + 1
        if not chunk.last:
            return
        if chunk.total_bytes != len(buf):
            self._fail(fmt, f"received {len(buf)} bytes, the last chunk says {chunk.total_bytes}")
        digest = hashlib.sha256(buf).digest()
        if digest != chunk.sha256:
            self._fail(fmt, f"SHA-256 {digest.hex()} does not match the server's "
                            f"{chunk.sha256.hex()}")
        self._done[fmt] = bytes(buf)
        del self._parts[fmt]

    def outputs(self):
        """{OutputFormat value: bytes}; raises if an output is still incomplete."""
        if self._parts:
            fmt = next(iter(self._parts))
            self._fail(fmt, "the job ended before the output's last chunk")
        return dict(self._done)
