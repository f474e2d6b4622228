"""OvidClient: the ovid.v1.Generation service and grpc.health.v1 behind plain Python calls.

Every failed call or job raises OvidError (a grpc.StatusCode and the server's message); misuse
(a bad argument, a closed client) raises TypeError or ValueError before anything is sent. Streams
are followed to the end here, chunks reassembled and verified, so a caller gets either complete,
checked outputs or an exception."""
import time
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ._stubs import pb, pb_grpc
from .assembly import OutputAssembler
from .errors import OvidError, status_code
from .request import build_request, job_state

_ENDED = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)


@dataclass
class GenerateResult:
    job_id: str
    final: "pb.Final"
    outputs: dict = field(default_factory=dict)  # OutputFormat value -> bytes, verified
    events: int = 0  # events received (chunks included)
    reattached: int = 0  # how many times the stream was resumed with WatchJob

    @property
    def seed(self):
        return self.final.seed


def _read(value):
    """A PEM as bytes or as text (a str that starts with "-----BEGIN"), or a path to read it
    from. Any other str is a path: a PEM read with open().read() used to be taken for one, and
    the FileNotFoundError echoed the whole certificate."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str) and value.lstrip().startswith("-----BEGIN"):
        return value.encode("ascii")
    with open(value, "rb") as f:
        return f.read()


def _check_token(token):
    """The bearer token (str, or bytes as read from a file in binary mode) without surrounding
    whitespace (a file's or a Secret's newline); a ValueError, which does not echo it, for any
    other byte a header value cannot carry (gRPC would refuse every call with INTERNAL "Invalid
    metadata", which reads as a server error), and for a token given with its "Bearer " prefix,
    which the client adds itself."""
    if isinstance(token, (bytes, bytearray)):
        try:
            token = bytes(token).decode("ascii")
        except UnicodeDecodeError as e:
            raise ValueError(f"token: a byte outside ASCII at offset {e.start}; a bearer token "
                             "is one line of visible characters") from None
    if not isinstance(token, str):
        raise TypeError(f"token must be a str or bytes, got {type(token).__name__}")
    token = token.strip()
    if token[:7].lower() == "bearer ":
        raise ValueError('token: give the token without its "Bearer " prefix; the client sends '
                         '"authorization: Bearer <token>" itself')
    for i, ch in enumerate(token):
        if not "\x21" <= ch <= "\x7e":
            raise ValueError(f"token: a character outside printable ASCII (0x21-0x7e) at offset "
                             f"{i}; a bearer token is one line of visible characters")
    return token


# Keepalive pings while a call is open: a queued job sends nothing for minutes, and a load
# balancer or NAT that drops idle connections would end its stream silently (the client waiting
# until its deadline, the job cancelled). Every 60 s, unlimited without data; the daemon accepts
# pings every 30 s (server/daemon.cc).
KEEPALIVE_OPTIONS = (("grpc.keepalive_time_ms", 60000), ("grpc.keepalive_timeout_ms", 20000),
                     ("grpc.http2.max_pings_without_data", 0))


class OvidClient:
    """A connection to one ovid daemon.

    address: "host:port". token: bearer token sent as `authorization: Bearer <token>`.
    tls_ca / tls_cert / tls_key: PEM bytes or text, or file paths; any of them switches to TLS
    (the CA verifies the server, cert + key, both or neither, authenticate this client for
    mTLS). timeout: seconds, the
    deadline of every call (for generate: of the whole job), None for no deadline.
    reattach_attempts: how often a broken Generate/WatchJob stream (UNAVAILABLE) is resumed."""

    def __init__(self, address, token=None, tls_ca=None, tls_cert=None, tls_key=None,
                 timeout=None, reattach_attempts=5):
        if (tls_cert is None) != (tls_key is None):
            # Checked here: gRPC's core aborts the whole process on a half-given pair.
            raise ValueError("tls_cert and tls_key go together (the client's mTLS identity): "
                             f"got only {'tls_cert' if tls_key is None else 'tls_key'}")
        if tls_ca is not None or tls_cert is not None or tls_key is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=_read(tls_ca),
                                                 private_key=_read(tls_key),
                                                 certificate_chain=_read(tls_cert))
            self._channel = grpc.secure_channel(address, creds, options=KEEPALIVE_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(address, options=KEEPALIVE_OPTIONS)
        # Sent per call rather than as call credentials: gRPC refuses call credentials on an
        # insecure channel, and a token over plaintext is the operator's choice to make.
        self._metadata = (("authorization", f"Bearer {_check_token(token)}"),) if token else ()
        self._timeout = timeout
        self._closed = False
        self.reattach_attempts = reattach_attempts
        self._stub = pb_grpc.GenerationStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self):
        self._closed = True
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- unary calls -------------------------------------------------------------------------

    def _check_open(self):
        # Misuse, not a failed call: ValueError, as Python's own closed files raise, with a
        # message that names the client (gRPC's says "Cannot invoke RPC on closed channel!").
        if self._closed:
            raise ValueError("this OvidClient is closed")

    def _call(self, method, request, job_id=""):
        self._check_open()
        try:
            return method(request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise OvidError.from_rpc(e, job_id) from None

    def get_job(self, job_id):
        return self._call(self._stub.GetJob, pb.JobRef(job_id=job_id), job_id)

    def cancel(self, job_id, wait=60.0):
        """Cancels a job and returns its JobStatus once it has stopped, following it for up to
        `wait` seconds (0: the server's answer as it is). The server answers at once, and a
        running job stops at its next step check after that, so without the wait the state may
        still be RUNNING. A job that finished first keeps its final state. None: the job ended
        during the wait and the server kept no record of it (--job-ttl=0), so how it ended is
        not known. A job already forgotten before the call is NOT_FOUND, as an unknown id is."""
        status = self._call(self._stub.CancelJob, pb.JobRef(job_id=job_id), job_id)
        deadline = time.monotonic() + wait
        while status.state not in _ENDED and time.monotonic() < deadline:
            time.sleep(0.1)
            try:
                status = self.get_job(job_id)
            except OvidError as e:
                if e.code == grpc.StatusCode.NOT_FOUND:
                    return None
                raise
        return status

    def list_jobs(self, states=()):
        """Every kept job (in `states`, if given: one state or several, by short name such as
        "running", full name or number), in creation order, over as many pages as the server
        sends (at most 1000 jobs each)."""
        jobs, token = [], ""
        # A list, sent with every page: an iterator would be empty after the first.
        states = [job_state(s) for s in ([states] if isinstance(states, (str, int)) else states)]
        while True:
            page = self._call(self._stub.ListJobs,
                              pb.ListJobsRequest(states=states, page_token=token))
            jobs.extend(page.jobs)
            token = page.next_page_token
            if not token:
                return jobs

    def model(self):
        return self._call(self._stub.GetModel, pb.GetModelRequest())

    def health(self, service=""):
        """"SERVING", "NOT_SERVING", ... for the whole server ("") or one service name."""
        reply = self._call(self._health.Check, health_pb2.HealthCheckRequest(service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    # -- streams -----------------------------------------------------------------------------

    def watch(self, job_id, from_event=0):
        """The job's events from index `from_event` on (replayed, then live), as an iterator
        of GenerateEvent. Raw: no reassembly and no re-attach (see attach())."""
        self._check_open()
        stream = self._stub.WatchJob(pb.JobRef(job_id=job_id, from_event=from_event),
                                     timeout=self._timeout, metadata=self._metadata)
        try:
            yield from stream
        except grpc.RpcError as e:
            raise OvidError.from_rpc(e, job_id) from None
        finally:
            stream.cancel()

    def generate(self, request_or_kwargs=None, on_event=None, keep_on_disconnect=False,
                 **kwargs):
        """Runs a job and returns a GenerateResult once its Final event arrived.

        request_or_kwargs: a GenerateRequest, or a dict of build_request() arguments (which may
        also be given as keyword arguments). on_event(GenerateEvent) is called for every event.
        keep_on_disconnect: the job survives this stream; a broken stream is then resumed with
        WatchJob from the next event index."""
        if isinstance(request_or_kwargs, pb.GenerateRequest):
            if kwargs:
                raise TypeError("give a GenerateRequest or keyword arguments, not both")
            request = pb.GenerateRequest()
            request.CopyFrom(request_or_kwargs)
        else:
            request = build_request(**dict(request_or_kwargs or {}, **kwargs))
        request.keep_on_disconnect = request.keep_on_disconnect or bool(keep_on_disconnect)
        self._check_open()
        stream = self._stub.Generate(request, timeout=self._timeout, metadata=self._metadata)
        # A job not kept on disconnect was cancelled when its stream broke: one re-attach learns
        # how it ended (or finds a stream that only broke on the way); more would only wait out
        # the back-off against a daemon that is gone (5 s by default).
        attempts = (self.reattach_attempts if request.keep_on_disconnect
                    else min(1, self.reattach_attempts))
        return self._follow(stream, "", on_event, attempts)

    def attach(self, job_id, on_event=None):
        """Follows an existing job from its first event, like generate() does a new one."""
        self._check_open()
        stream = self._stub.WatchJob(pb.JobRef(job_id=job_id), timeout=self._timeout,
                                     metadata=self._metadata)
        return self._follow(stream, job_id, on_event, self.reattach_attempts)

    def _follow(self, stream, job_id, on_event, attempts):
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        assembler = OutputAssembler(job_id)
        next_index, final, events, reattached, failures = 0, None, 0, 0, 0
        job_error = None
        while True:
            try:
                for ev in stream:
                    if ev.index < next_index:
                        continue  # replayed twice after a re-attach: already handled
                    next_index = ev.index + 1
                    job_id = assembler.job_id = ev.job_id or job_id
                    failures = 0
                    events += 1
                    if on_event is not None:
                        on_event(ev)
                    kind = ev.WhichOneof("event")
                    if kind == "chunk":
                        assembler.add(ev.chunk)
                    elif kind == "error":
                        # A JobError is a failure even if its code was left at 0 (OK). It is the
                        # job's last event and the server ends the call right after it: read to
                        # that end instead of cancelling, so the call ends with the job's status
                        # on both sides (the daemon's RPC metrics count it, not CANCELLED).
                        code = status_code(ev.error.code or grpc.StatusCode.UNKNOWN.value[0])
                        job_error = OvidError(code, ev.error.message, job_id)
                    elif kind == "final":
                        final = ev.final
                if job_error is not None:
                    raise job_error
                break
            except grpc.RpcError as e:
                if job_error is not None:
                    raise job_error from None
                if final is not None:
                    # Final is the job's last event and every output came (and was verified)
                    # before it: how the call ended after that changes nothing.
                    break
                if (e.code() != grpc.StatusCode.UNAVAILABLE or not job_id
                        or failures >= attempts):
                    raise OvidError.from_rpc(e, job_id) from None
                failures += 1
                reattached += 1
                time.sleep(min(0.2 * 2 ** (failures - 1), 2.0))
                left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                stream = self._stub.WatchJob(pb.JobRef(job_id=job_id, from_event=next_index),
                                             timeout=left, metadata=self._metadata)
            except BaseException:
                # A bad chunk or the caller's callback: stop the call now rather than leave it
                # streaming into nothing (without keep_on_disconnect this also cancels the job).
                # After a JobError the call has already ended, and this changes nothing.
                stream.cancel()
                raise
        if final is None:
            raise OvidError(grpc.StatusCode.UNKNOWN,
                            f"the stream ended after event {next_index - 1} without a Final "
                            "event", job_id)
        return GenerateResult(job_id=job_id, final=final, outputs=assembler.outputs(),
                              events=events, reattached=reattached)
