"""A generation end to end through the Python client: the event stream, the LATENTS output,
reproducibility by seed, re-attaching after a disconnect, health, reflection, GetModel, jobs."""
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import ovid_client
from conftest import make_request
from daemon import DEVICE
from ovid_client import pb


def test_a_generation_streams_accepted_progress_chunks_final(daemon):
    with ovid_client.OvidClient(daemon.address) as client:
        events = []
        result = client.generate(make_request(client, seed=11, steps=3, client_request_id="e2e-1"),
                                 on_event=events.append)
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "accepted"
    assert kinds[-1] == "final"
    first_chunk = kinds.index("chunk")
    assert set(kinds[1:first_chunk]) == {"progress"}
    assert set(kinds[first_chunk:-1]) == {"chunk"}
    denoise = [e.progress for e in events if e.HasField("progress") and
               e.progress.stage == "denoise"]
    assert [p.step for p in denoise][-1] == 3 and all(p.total == 3 for p in denoise)
    assert [e.index for e in events] == list(range(len(events)))
    assert {e.job_id for e in events} == {result.job_id}
    assert {e.client_request_id for e in events} == {"e2e-1"}
    assert all(len(e.chunk.data) <= 1 << 20 for e in events if e.HasField("chunk"))

    final = result.final
    assert final.seed == 11
    assert final.parameters.steps == 3
    assert final.parameters.solver == pb.SOLVER_UNIPC  # the default, reported back
    assert final.parameters.width % 32 == 0 and final.parameters.height % 32 == 0
    assert any(s.stage == "denoise" and s.seconds > 0 for s in final.stages)
    latents = ovid_client.parse_latents(result.outputs[pb.OUTPUT_FORMAT_LATENTS])
    f, h, w = 31, final.parameters.height // 16, final.parameters.width // 16
    assert latents["video_latent"].shape == (48, f, h, w)
    assert latents["audio_latent"].shape == (157, 20)
    assert latents["video_latent"].dtype == np.float32
    assert np.isfinite(latents["video_latent"]).all() and np.isfinite(latents["audio_latent"]).all()


def test_the_same_seed_gives_the_same_latents(daemon):
    with ovid_client.OvidClient(daemon.address) as client:
        runs = [client.generate(make_request(client, seed=s, steps=2)) for s in (5, 5, 6)]
    out = [r.outputs[pb.OUTPUT_FORMAT_LATENTS] for r in runs]
    assert out[0] == out[1]
    assert out[0] != out[2]
    assert runs[0].job_id != runs[1].job_id


def test_a_client_that_disconnects_reattaches_and_gets_the_same_result(start_daemon):
    daemon = start_daemon("--fault-step-delay-ms=150")
    with ovid_client.OvidClient(daemon.address) as client:
        request = make_request(client, seed=21, steps=4)
        reference = client.generate(request)
        request.keep_on_disconnect = True
        with grpc.insecure_channel(daemon.address) as channel:
            stream = ovid_client.pb_grpc.GenerationStub(channel).Generate(request)
            seen = []
            for event in stream:
                seen.append(event)
                if event.HasField("progress"):
                    break
            stream.cancel()  # the client goes away mid-job
        job_id = seen[0].job_id
        assert client.get_job(job_id).state in (pb.JOB_STATE_RUNNING, pb.JOB_STATE_QUEUED)
        resumed = client.attach(job_id)
        tail = list(client.watch(job_id, from_event=len(seen)))
    assert resumed.job_id == job_id
    assert resumed.outputs == reference.outputs
    assert tail[0].index == len(seen)
    assert tail[-1].HasField("final")


def test_health_answers_alive_and_ready(daemon):
    assert daemon.health("") == "SERVING"
    assert daemon.health("ovid.v1.Generation") == "SERVING"
    with pytest.raises(grpc.RpcError) as err:
        daemon.health("no.such.Service")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(daemon):
    with grpc.insecure_channel(daemon.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in reply.list_services_response.service}
        assert {"ovid.v1.Generation", "grpc.health.v1.Health"} <= names
        request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="ovid.v1.Generation")
        reply = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
        assert reply.file_descriptor_response.file_descriptor_proto


def test_get_model_describes_what_is_loaded(daemon, tiny_model):
    with ovid_client.OvidClient(daemon.address) as client:
        info = client.model()
    assert info.config.layers == 3 and info.config.dim == 256
    assert info.dequant_mode == "lazy"
    assert info.tensors_quantized > 0 and info.tensors_total >= info.tensors_quantized
    assert any(q.type == "q4_K" and q.tensors > 0 for q in info.quantization)
    assert info.vram.weights_resident_bytes > 0
    denoiser = [s for s in info.stages if s.name == "denoiser"]
    assert denoiser and denoiser[0].loaded and denoiser[0].file == tiny_model.name
    assert "/" not in denoiser[0].file
    assert list(info.output_formats) == [pb.OUTPUT_FORMAT_LATENTS]
    assert info.version
    # The daemon's defaults: one worker, 16 queued, no queue limit; a VRAM budget (the free
    # memory after loading, less 5%) only on a GPU.
    assert (info.limits.workers, info.limits.max_queue) == (1, 16)
    assert info.limits.max_queue_wait_seconds == 0
    assert (info.limits.vram_budget_bytes == 0) == (DEVICE == "cpu"), info.limits
    assert info.limits.max_request_bytes == 16 << 20 and info.limits.job_ttl_seconds == 600


def test_list_jobs_and_get_job(daemon):
    with ovid_client.OvidClient(daemon.address) as client:
        done = client.generate(make_request(client, seed=3, steps=1))
        jobs = client.list_jobs()
        assert done.job_id in [j.job_id for j in jobs]
        assert client.get_job(done.job_id).state == pb.JOB_STATE_SUCCEEDED
        assert client.list_jobs(states=[pb.JOB_STATE_FAILED]) == []
        with pytest.raises(ovid_client.OvidError) as err:
            client.get_job("job-that-never-was")
        assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_every_job_ends_with_one_log_line(daemon):
    with ovid_client.OvidClient(daemon.address) as client:
        done = client.generate(make_request(client, seed=8, steps=1, client_request_id="log-me"))
    # The line is written when the worker is done with the job, a moment after the client got
    # the Final event.
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in daemon.log().splitlines() if f"job={done.job_id}" in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 1, daemon.log()
    for part in ("job finished", "client_request_id=log-me", "outcome=succeeded", "code=OK",
                 "queue_s=", "run_s=", "total_s=", "seed=8", "steps=1",
                 # auto: without a budget (the CPU) the passes apart; a tiny job fits a GPU's.
                 "guidance=apart" if DEVICE == "cpu" else "guidance=batched"):
        assert part in lines[0], lines[0]


def test_a_request_over_the_receive_limit_is_refused(start_daemon):
    daemon = start_daemon("--max-receive-bytes=64K")
    with ovid_client.OvidClient(daemon.address) as client:
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(make_request(client, tokens=200))  # 3 x 200 x 256 bf16 = 300 KiB
        assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert client.generate(make_request(client, tokens=4, steps=1)).final.parameters.steps == 1


def test_health_watch_follows_readiness_until_drain(start_daemon):
    daemon = start_daemon()
    with grpc.insecure_channel(daemon.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service="ovid.v1.Generation"), timeout=60)
        first = next(watch)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        daemon.signal()
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert daemon.wait_exit(60) == 0
