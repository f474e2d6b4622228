"""Exceptions of the client: every failure carries a gRPC status code and a message, whether it
came from the call's status, from a JobError event or from checking the received outputs."""
import grpc

# google.rpc.Code numbers (JobError.code) -> grpc.StatusCode.
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def status_code(number):
    """The grpc.StatusCode for a google.rpc.Code number (UNKNOWN for numbers gRPC lacks)."""
    return _CODES.get(int(number), grpc.StatusCode.UNKNOWN)


class OvidError(Exception):
    """A failed call or job. `code` is a grpc.StatusCode, `message` the server's text, `job_id`
    the job it concerns when one was known."""

    def __init__(self, code, message, job_id=""):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.job_id = job_id

    @classmethod
    def from_rpc(cls, error, job_id=""):
        """Wraps a grpc.RpcError raised by a call."""
        return cls(error.code(), error.details() or "", job_id)


class OutputIntegrityError(OvidError):
    """The chunks of an output do not add up: a gap, a duplicate, or a size or SHA-256 that does
    not match the last chunk. DATA_LOSS, the status gRPC reserves for corrupted data."""

    def __init__(self, message, job_id=""):
        super().__init__(grpc.StatusCode.DATA_LOSS, message, job_id)
