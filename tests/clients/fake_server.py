"""A fake ovid daemon for the client tests: a real gRPC server (grpcio) implementing
ovid.v1.Generation and grpc.health.v1 with canned but self-consistent behaviour.

Jobs run on a background thread that appends events to the job's log (Accepted, Progress for
text_encode and each denoising step, OutputChunks, Final); Generate and WatchJob both stream from
that log, so a stream that breaks loses nothing and WatchJob(from_event) replays exactly. Knobs
on FakeOvid make a job's stream drop, fail or deliver a corrupted chunk, and every call's method,
metadata and request is recorded for the tests to check."""
import hashlib
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from safetensors.numpy import save as save_safetensors

from ovid_client import pb, pb_grpc

TEXT_DIM = 4096
TEXT_LEN = 512
CHUNK = 1 << 20  # the daemon's OutputChunk.data limit
TERMINAL = (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)


def output_bytes(fmt, seed, width, height):
    """Deterministic content per format; LATENTS is a real safetensors file."""
    if fmt == pb.OUTPUT_FORMAT_LATENTS:
        rng = np.random.default_rng(seed)
        return save_safetensors({
            "video_latent": rng.standard_normal((48, 4, height // 16, width // 16), np.float32),
            "audio_latent": rng.standard_normal((40, 20), np.float32)})
    size = {pb.OUTPUT_FORMAT_MP4: 2 * CHUNK + 12345, pb.OUTPUT_FORMAT_WAV: 64000,
            pb.OUTPUT_FORMAT_PNG_FRAMES: CHUNK}[fmt]
    return np.random.default_rng(seed * 10 + fmt).integers(0, 256, size, np.uint8).tobytes()


@dataclass
class Job:
    job_id: str
    request: object
    created: float = field(default_factory=time.time)
    state: int = pb.JOB_STATE_QUEUED
    events: list = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    cancelled: bool = False
    error: object = None
    progress: object = None
    tenant: str = ""  # as the daemon's JobStatus.tenant (token file lines "TOKEN tenant=NAME")

    def append(self, **event):
        with self.cond:
            ev = pb.GenerateEvent(job_id=self.job_id, index=len(self.events),
                                  client_request_id=self.request.client_request_id, **event)
            self.events.append(ev)
            self.cond.notify_all()


class FakeOvid(pb_grpc.GenerationServicer):
    def __init__(self):
        self.jobs = {}
        self.calls = []  # (method, {metadata key: value}, request)
        self.lock = threading.Lock()
        self.token = None  # when set, calls without `authorization: Bearer <token>` fail
        self.step_delay = 0.0  # seconds per denoising step
        self.ignore_cancel = False  # a job that does not stop when cancelled
        self.forget_on_cancel = False  # CancelJob drops the job from the store (--job-ttl=0)
        self.drop_after = None  # Generate aborts with UNAVAILABLE after sending this index
        self.fail_at_step = None  # (step, grpc.StatusCode, message): the job fails there
        self.corrupt_chunk = False  # flips a byte of the first chunk's data
        self.chunk_delay = 0.0  # seconds after each output chunk but an output's last
        self.unavailable = None  # every Generation call fails UNAVAILABLE with this message
        self.watch_unavailable = False  # WatchJob fails UNAVAILABLE (the daemon is gone)
        self.end_delay = 0.0  # seconds between a JobError event and the call's end
        self.error_ends = []  # (status code, was the call still open) for each JobError end
        self.job_id_format = "job-{:04d}"  # a hostile server's ids, for the client's checks
        self.list_page_size = 0  # ListJobs pages of this many jobs (0: one page)

    # -- bookkeeping -------------------------------------------------------------------------

    def _enter(self, method, request, context):
        metadata = dict(context.invocation_metadata())
        with self.lock:
            self.calls.append((method, metadata, request))
        if self.token is not None and metadata.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        if self.unavailable:
            context.abort(grpc.StatusCode.UNAVAILABLE, self.unavailable)

    def calls_of(self, method):
        with self.lock:
            return [(md, req) for m, md, req in self.calls if m == method]

    def _job(self, job_id, context):
        job = self.jobs.get(job_id)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown job id {job_id!r}")
        return job

    def start_job(self, request):
        with self.lock:
            job = Job(self.job_id_format.format(len(self.jobs) + 1), request)
            self.jobs[job.job_id] = job
        threading.Thread(target=self._run, args=(job,), daemon=True).start()
        return job

    # -- the job itself ----------------------------------------------------------------------

    def _fail(self, job, code, message, state=pb.JOB_STATE_FAILED):
        job.error = pb.JobError(code=code.value[0], message=message)
        job.state = state
        job.append(error=job.error)

    def _run(self, job):
        req = job.request
        steps = req.steps if req.HasField("steps") else 50
        width = req.width if req.HasField("width") else 704
        height = req.height if req.HasField("height") else 704
        seed = req.seed if req.HasField("seed") else 424242
        outputs = list(req.outputs) or [pb.OUTPUT_FORMAT_LATENTS]
        job.append(accepted=pb.Accepted(queue_position=0, estimated_vram_bytes=24 << 30))
        job.state = pb.JOB_STATE_RUNNING
        stages = [("text_encode", 1)] + [("denoise", steps)]
        t0 = time.monotonic()
        for stage, total in stages:
            for step in range(1, total + 1):
                if stage == "denoise":
                    time.sleep(self.step_delay)
                if job.cancelled and not self.ignore_cancel:
                    return self._fail(job, grpc.StatusCode.CANCELLED, "cancelled by CancelJob",
                                      pb.JOB_STATE_CANCELLED)
                if self.fail_at_step and stage == "denoise" and step == self.fail_at_step[0]:
                    return self._fail(job, *self.fail_at_step[1:])
                elapsed = time.monotonic() - t0
                job.progress = pb.Progress(stage=stage, step=step, total=total,
                                           elapsed_seconds=elapsed,
                                           remaining_seconds=(steps - step) * 0.5)
                job.append(progress=job.progress)
        for fmt in outputs:
            data = output_bytes(fmt, seed, width, height)
            pieces = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]
            for seq, piece in enumerate(pieces):
                last = seq == len(pieces) - 1
                if self.corrupt_chunk and seq == 0:
                    piece = bytes([piece[0] ^ 0xFF]) + piece[1:]
                job.append(chunk=pb.OutputChunk(
                    format=fmt, seq=seq, offset=seq * CHUNK, data=piece, last=last,
                    total_bytes=len(data) if last else 0,
                    sha256=hashlib.sha256(data).digest() if last else b""))
                if not last:
                    time.sleep(self.chunk_delay)
        params = pb.EffectiveParameters(
            width=width, height=height, duration_seconds=5.0, steps=steps,
            solver=req.solver if req.HasField("solver") else pb.SOLVER_UNIPC,
            shift=req.shift if req.HasField("shift") else 5.0,
            video_guidance=req.video_guidance if req.HasField("video_guidance") else 4.0,
            audio_guidance=req.audio_guidance if req.HasField("audio_guidance") else 3.0,
            slg_layer=req.slg_layer if req.HasField("slg_layer") else 11,
            video_frames=121, audio_samples=80000, outputs=outputs,
            guidance_batched=seed % 2 == 1)  # odd seeds: "both passes ran as one batch"
        final = pb.Final(seed=seed, parameters=params, queue_seconds=0.25, total_seconds=12.5,
                         peak_vram_bytes=30 << 30, stages=[
                             pb.StageTiming(stage="text_encode", seconds=0.5,
                                            peak_vram_bytes=20 << 30),
                             pb.StageTiming(stage="denoise", seconds=11.75,
                                            peak_vram_bytes=30 << 30)])
        job.state = pb.JOB_STATE_SUCCEEDED
        job.append(final=final)

    def _stream(self, job, start, context, drop_after=None):
        index = start
        while True:
            with job.cond:
                while index >= len(job.events):
                    if job.state in TERMINAL or not context.is_active():
                        break
                    job.cond.wait(0.05)
                if index >= len(job.events):
                    break
                ev = job.events[index]
            yield ev
            if ev.WhichOneof("event") == "error":
                code = next(c for c in grpc.StatusCode if c.value[0] == ev.error.code)
                time.sleep(self.end_delay)
                self.error_ends.append((code, context.is_active()))
                context.abort(code, ev.error.message)
            if drop_after is not None and index >= drop_after:
                context.abort(grpc.StatusCode.UNAVAILABLE, "fake: connection dropped")
            index += 1

    # -- ovid.v1.Generation ------------------------------------------------------------------

    def Generate(self, request, context):
        self._enter("Generate", request, context)
        if not request.HasField("conditioning"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "conditioning: required")
        emb = request.conditioning.embedding
        if request.conditioning.WhichOneof("source") == "embedding" and (
                emb.dim != TEXT_DIM or not 1 <= emb.tokens <= TEXT_LEN
                or len(emb.bf16) != emb.tokens * emb.dim * 2):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"conditioning.embedding: want [1..{TEXT_LEN}, {TEXT_DIM}] bf16")
        if request.HasField("steps") and not 1 <= request.steps <= 200:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "steps: must be in 1..200")
        job = self.start_job(request)
        yield from self._stream(job, 0, context, self.drop_after)

    def WatchJob(self, request, context):
        self._enter("WatchJob", request, context)
        if self.watch_unavailable:
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection refused")
        yield from self._stream(self._job(request.job_id, context), request.from_event, context)

    def _status(self, job):
        st = pb.JobStatus(job_id=job.job_id, client_request_id=job.request.client_request_id,
                          state=job.state, event_count=len(job.events),
                          priority=job.request.priority, tenant=job.tenant)
        st.created.FromNanoseconds(int(job.created * 1e9))
        if job.progress is not None:
            st.progress.CopyFrom(job.progress)
        if job.error is not None:
            st.error.CopyFrom(job.error)
        return st

    def GetJob(self, request, context):
        self._enter("GetJob", request, context)
        return self._status(self._job(request.job_id, context))

    def CancelJob(self, request, context):
        self._enter("CancelJob", request, context)
        job = self._job(request.job_id, context)
        job.cancelled = True
        # As the daemon does: the answer comes at once, a running job stops at its next step.
        status = self._status(job)
        if self.forget_on_cancel:  # as --job-ttl=0 drops a job once it has ended
            del self.jobs[job.job_id]
        return status

    def ListJobs(self, request, context):
        self._enter("ListJobs", request, context)
        jobs = [j for j in self.jobs.values() if not request.states or j.state in request.states]
        if not self.list_page_size:
            return pb.ListJobsResponse(jobs=[self._status(j) for j in jobs])
        start = int(request.page_token or 0)
        end = start + self.list_page_size
        return pb.ListJobsResponse(jobs=[self._status(j) for j in jobs[start:end]],
                                   next_page_token=str(end) if end < len(jobs) else "")

    def GetModel(self, request, context):
        self._enter("GetModel", request, context)
        return model_info()


def model_info():
    gib = 1 << 30
    return pb.ModelInfo(
        config=pb.ModelConfig(variant="720x720_5s", dim=3072, ffn_dim=14336, heads=24,
                              head_dim=128, layers=30, text_len=TEXT_LEN, text_dim=TEXT_DIM,
                              audio_rope_scale=0.19676, parameters=11660753108),
        dequant_mode="lazy", batch_guidance="auto", tensors_total=2073, tensors_quantized=720, version="fake-0.1",
        quantization=[pb.QuantTypeStats(type="q4_K", tensors=540, bytes=5 * gib),
                      pb.QuantTypeStats(type="q6_K", tensors=180, bytes=2 * gib),
                      pb.QuantTypeStats(type="bf16", tensors=1353, bytes=gib // 2)],
        vram=pb.VramUsage(weights_resident_bytes=7 * gib + gib // 2,
                          weights_bf16_equivalent_bytes=23 * gib, device_total_bytes=80 * gib,
                          device_used_bytes=9 * gib, torch_peak_bytes=30 * gib),
        stages=[pb.StageInfo(name="denoiser", loaded=True, file="ovi-q4_k_m.gguf"),
                pb.StageInfo(name="video_vae", loaded=False)],
        output_formats=[pb.OUTPUT_FORMAT_LATENTS],
        limits=pb.ServingLimits(workers=2, max_queue=16, max_queue_per_tenant=4,
                                tenant_scheduling="fair",
                                max_queue_wait_seconds=90, vram_budget_bytes=70 * gib,
                                max_request_bytes=16 << 20, job_ttl_seconds=600))


class FakeServer:
    """FakeOvid + health on 127.0.0.1:<free port>, optionally with TLS credentials."""

    def __init__(self, credentials=None):
        self.fake = FakeOvid()
        self.health = health.HealthServicer()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        pb_grpc.add_GenerationServicer_to_server(self.fake, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        self.health.set("ovid.v1.Generation", health_pb2.HealthCheckResponse.NOT_SERVING)
        if credentials is None:
            self.port = self.server.add_insecure_port("127.0.0.1:0")
        else:
            self.port = self.server.add_secure_port("127.0.0.1:0", credentials)
        self.address = f"127.0.0.1:{self.port}"
        self.server.start()

    def stop(self):
        self.server.stop(grace=None)
