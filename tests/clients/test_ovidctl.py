"""ovidctl against the fake daemon: generate writes verified files and reports what ran, resumes a
dropped stream from the right event, maps failures to exit code 1 with the status name, and the
jobs/cancel/model/health commands; usage errors exit 2."""
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from safetensors.numpy import save_file

from conftest import OVIDCTL, ovidctl
from fake_server import output_bytes
from ovid_client import OvidClient, build_request, float_to_bf16_bits, pb, text_embedding


def write_safetensors(path, tensors):
    """{name: (dtype name, shape, raw bytes)} -> a .safetensors file (any dtype, BF16 too, which
    numpy cannot hold)."""
    header, offset = {}, 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, _, data in tensors.values():
            f.write(data)


@pytest.fixture
def embedding_file(tmp_path):
    rng = np.random.default_rng(1)
    context = rng.standard_normal((5, 4096)).astype(np.float32)
    # Exact ties of the fp32 -> bf16 rounding (both clients must round them to even) and an
    # fp32 subnormal, which bf16 keeps (same exponent range).
    context[0, :4] = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), 2 ** -130]
    video_neg = rng.standard_normal((3, 4096)).astype(np.float16)
    audio_bits = float_to_bf16_bits(rng.standard_normal((2, 4096)))
    path = tmp_path / "emb.safetensors"
    write_safetensors(path, {
        "context": ("F32", context.shape, context.tobytes()),
        "video_negative": ("F16", video_neg.shape, video_neg.tobytes()),
        "audio_negative": ("BF16", audio_bits.shape, audio_bits.astype("<u2").tobytes())})
    return path, context, video_neg, audio_bits


def files_in(path):
    return sorted(p.name for p in path.iterdir())


def test_generate_writes_verified_outputs_and_summary(server, embedding_file, tmp_path):
    emb_path, context, video_neg, audio_bits = embedding_file
    out = tmp_path / "out"
    out.mkdir()
    r = ovidctl("--address", server.address, "generate", "--embedding", emb_path,
                "--width", 256, "--height", 128, "--steps", 3, "--seed", 9, "--solver", "euler",
                "--shift", 3.5, "--video-guidance", 5, "--audio-guidance", 2.5,
                "--slg-layer", -1, "--output-format", "latents", "--output-format", "mp4",
                "--client-request-id", "abc", "--priority", -7, "--max-queue-seconds", 2.5,
                "--out-dir", out)
    assert r.returncode == 0, r.stderr
    assert files_in(out) == ["job-0001.mp4", "job-0001.safetensors"]
    assert (out / "job-0001.mp4").read_bytes() == output_bytes(pb.OUTPUT_FORMAT_MP4, 9, 256, 128)
    assert (out / "job-0001.safetensors").read_bytes() == output_bytes(
        pb.OUTPUT_FORMAT_LATENTS, 9, 256, 128)
    assert f"wrote {out}/job-0001.mp4" in r.stdout
    assert "seed: 9" in r.stdout
    assert "256x128" in r.stdout and "3 steps euler" in r.stdout and "slg layer -1" in r.stdout
    assert "guidance video 5 audio 2.5 (passes batched)" in r.stdout  # the fake batches odd seeds
    assert "denoise" in r.stdout and "peak VRAM: 30.00 GiB" in r.stdout
    # stderr is not a terminal here: plain progress lines.
    assert "job job-0001 accepted" in r.stderr and "denoise 3/3" in r.stderr
    assert "\r" not in r.stderr

    (_, req), = server.fake.calls_of("Generate")
    assert (req.width, req.height, req.steps, req.seed) == (256, 128, 3, 9)
    assert req.solver == pb.SOLVER_EULER and req.slg_layer == -1
    assert req.shift == pytest.approx(3.5) and req.audio_guidance == pytest.approx(2.5)
    assert list(req.outputs) == [pb.OUTPUT_FORMAT_LATENTS, pb.OUTPUT_FORMAT_MP4]
    assert req.client_request_id == "abc" and not req.keep_on_disconnect
    assert req.priority == -7 and req.max_queue_seconds == pytest.approx(2.5)
    # The C++ conversion sends the same bytes as the Python client's (kernels/fp16.h formula).
    assert req.conditioning.embedding == text_embedding(context)
    assert req.conditioning.embedding.bf16[:8] == struct.pack("<4H", 0x3F80, 0x3F82, 0xBF80, 0x0008)
    assert req.video_negative.embedding == text_embedding(video_neg.astype(np.float32))
    assert req.audio_negative.embedding.bf16 == audio_bits.astype("<u2").tobytes()
    assert (req.audio_negative.embedding.tokens, req.audio_negative.embedding.dim) == (2, 4096)


def test_dropped_stream_is_resumed_from_the_next_event(server, tmp_path):
    server.fake.drop_after = 4  # Accepted, text_encode, steps 1-3 sent, then UNAVAILABLE
    r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 6,
                "--seed", 2, "--output-format", "mp4", "--keep", "--out-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert "re-attaching from event 5" in r.stderr
    assert "(passes apart)" in r.stdout  # an even seed: the fake ran the two passes apart
    (_, ref), = server.fake.calls_of("WatchJob")
    assert (ref.job_id, ref.from_event) == ("job-0001", 5)
    assert server.fake.calls_of("Generate")[0][1].keep_on_disconnect
    assert (tmp_path / "job-0001.mp4").read_bytes() == output_bytes(pb.OUTPUT_FORMAT_MP4, 2, 704,
                                                                     704)


def test_job_option_reattaches_to_an_existing_job(server, tmp_path):
    with OvidClient(server.address) as client:
        job_id = client.generate(prompt="x", steps=2, seed=5, outputs=["wav"]).job_id
    r = ovidctl("--address", server.address, "generate", "--job", job_id, "--out-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / f"{job_id}.wav").read_bytes() == output_bytes(pb.OUTPUT_FORMAT_WAV, 5, 704,
                                                                     704)
    assert server.fake.calls_of("WatchJob")[0][1] == pb.JobRef(job_id=job_id, from_event=0)
    assert len(server.fake.calls_of("Generate")) == 1  # no new job


def test_another_writers_part_file_is_left_alone(server, tmp_path):
    # Two ovidctl following one job into one folder: each writes its own temporary file, so
    # neither truncates the other's data under it (a shared "<file>.part" once did).
    with OvidClient(server.address) as client:
        job_id = client.generate(prompt="x", steps=1, seed=5, outputs=["wav"]).job_id
    # Another process's temporary name (pid 1 is never this ovidctl).
    other = tmp_path / f"{job_id}.wav.tmp.1.0"
    other.write_bytes(b"the other ovidctl's first chunk")
    r = ovidctl("--address", server.address, "generate", "--job", job_id, "--out-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / f"{job_id}.wav").read_bytes() == output_bytes(pb.OUTPUT_FORMAT_WAV, 5, 704,
                                                                     704)
    assert other.read_bytes() == b"the other ovidctl's first chunk"
    assert files_in(tmp_path) == [f"{job_id}.wav", f"{job_id}.wav.tmp.1.0"]


def test_reattaching_for_an_output_the_job_did_not_make_exits_1(server, tmp_path):
    with OvidClient(server.address) as client:
        job_id = client.generate(prompt="x", steps=1, seed=5, outputs=["wav"]).job_id
    clip = tmp_path / "clip.mp4"
    r = ovidctl("--address", server.address, "generate", "--job", job_id, "-o", clip,
                "--out-dir", tmp_path)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"-o {clip}: the job made no mp4 output" in r.stderr
    assert not clip.exists()


def test_an_output_in_a_missing_folder_is_refused_before_the_job(server, tmp_path):
    r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 1,
                "-o", tmp_path / "nope" / "clip.wav")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"'{tmp_path / 'nope'}'" in r.stderr and "is not a directory" in r.stderr
    assert server.fake.calls_of("Generate") == []


def test_unreadable_output_folders_are_usage_errors_not_aborts(server, tmp_path):
    # A symlink loop (ELOOP) and a name too long (ENAMETOOLONG) threw from std::filesystem and
    # ended ovidctl through std::terminate (exit 134).
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    long_dir = tmp_path / ("d" * 5000)
    for args, flag in ((["--out-dir", loop], "--out-dir"),
                       (["-o", loop / "clip.wav"], "-o/--output"),
                       (["--out-dir", long_dir], "--out-dir")):
        r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 1, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        why = ("Too many levels of symbolic links", "File name too long")
        assert flag in r.stderr and any(w in r.stderr for w in why), r.stderr
    assert server.fake.calls_of("Generate") == []


def test_a_job_id_that_is_not_a_file_name_writes_nothing_outside_the_folder(server, tmp_path):
    # The default output name is the server's job id: a hostile server's "../x" made ovidctl
    # write outside --out-dir.
    out = tmp_path / "out"
    out.mkdir()
    server.fake.job_id_format = "../escaped-{:04d}"
    try:
        r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 1,
                    "--out-dir", out)
    finally:
        server.fake.job_id_format = "job-{:04d}"
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "is not a plain file name" in r.stderr, r.stderr
    assert not any(p.name.startswith("escaped") for p in tmp_path.rglob("*"))


def test_an_empty_tls_ca_file_is_refused_not_plaintext(server, tmp_path):
    empty = tmp_path / "ca.pem"
    empty.write_text("\n")
    r = ovidctl("--address", server.address, "--tls-ca", empty, "--token", "secret", "jobs")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "--tls-ca" in r.stderr and "is empty" in r.stderr
    assert server.fake.calls_of("ListJobs") == []  # the token never went out in plaintext


def test_job_error_exits_1_with_the_code_name(server, tmp_path):
    server.fake.fail_at_step = (2, grpc.StatusCode.RESOURCE_EXHAUSTED, "CUDA out of memory")
    r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 4,
                "--out-dir", tmp_path)
    assert r.returncode == 1
    assert "job job-0001 failed: RESOURCE_EXHAUSTED: CUDA out of memory" in r.stderr
    assert files_in(tmp_path) == []


def test_a_job_error_lets_the_call_end_with_the_jobs_status(server, tmp_path):
    server.fake.fail_at_step = (2, grpc.StatusCode.RESOURCE_EXHAUSTED, "CUDA out of memory")
    server.fake.end_delay = 0.3  # a cancel after the JobError would land in this window
    r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 4,
                "--out-dir", tmp_path)
    assert r.returncode == 1
    assert server.fake.error_ends == [(grpc.StatusCode.RESOURCE_EXHAUSTED, True)]


def test_corrupted_chunk_exits_1_and_leaves_no_file(server, tmp_path):
    server.fake.corrupt_chunk = True
    r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 1,
                "--output-format", "mp4", "--out-dir", tmp_path)
    assert r.returncode == 1
    # Said as ovidctl's failure, not the job's, with the way to fetch the outputs again.
    assert "writing its output failed: DATA_LOSS: output mp4: SHA-256" in r.stderr
    job_id = server.fake.calls_of("Generate") and next(iter(server.fake.jobs))
    assert f"ovidctl generate --job {job_id}" in r.stderr
    assert " failed: DATA_LOSS" not in r.stderr.replace("writing its output failed: DATA_LOSS", "")
    assert files_in(tmp_path) == []


def test_an_output_path_that_is_a_directory_is_refused_before_the_job(server, tmp_path):
    (tmp_path / "clip.wav").mkdir()
    r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 1,
                "-o", tmp_path / "clip.wav")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert f"'{tmp_path / 'clip.wav'}' is a directory" in r.stderr
    assert server.fake.calls_of("Generate") == []


def test_a_folder_ovidctl_cannot_write_in_is_refused_before_the_job(server):
    # A job of minutes used to run in full, and then its output could not be written. Root writes
    # in any folder, so as root the check runs as nobody, with a copy of ovidctl where nobody may
    # run it (the build folder may not be reachable for that user).
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        ctl = base / "ovidctl"
        shutil.copy(OVIDCTL, ctl)
        ro, rw = base / "ro", base / "rw"
        ro.mkdir()
        rw.mkdir()
        os.chmod(ro, 0o555)
        os.chmod(rw, 0o777)
        # setpriv switches the user, not subprocess's user=: that makes Python fork() this process,
        # which runs the fake server's gRPC threads, and gRPC's fork handlers restart its poller in
        # the child, which may then wait on an epoll descriptor that close_fds just closed. The
        # child aborted before exec in 29 of 2000 such runs ("Epoll1Poller ... epoll_wait error:
        # Bad file descriptor"); a plain subprocess.run uses vfork, which runs no fork handlers.
        as_nobody = (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
                     if os.geteuid() == 0 else [])
        env = {k: v for k, v in os.environ.items() if not k.startswith("OVID_")}

        def run(*args):
            return subprocess.run([*as_nobody, str(ctl), "--address", server.address, "generate",
                                   "--prompt", "x", "--steps", "1", *map(str, args)],
                                  capture_output=True, text=True, timeout=60, env=env, cwd=base)

        for args, flag in ((["--out-dir", ro], "--out-dir"),
                           (["-o", ro / "clip.wav"], f"-o/--output (for '{ro / 'clip.wav'}')")):
            r = run(*args)
            assert r.returncode == 2, (args, r.stdout, r.stderr)
            assert f"{flag}: cannot write in '{ro}': Permission denied" in r.stderr, r.stderr
        assert server.fake.calls_of("Generate") == []
        # Every output named elsewhere: a --out-dir it cannot write in is no obstacle.
        r = run("--output-format", "wav", "-o", rw / "clip.wav", "--out-dir", ro)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert (rw / "clip.wav").stat().st_size == 64000
    finally:
        os.chmod(base / "ro", 0o755)
        shutil.rmtree(base)


def test_a_kill_while_an_output_downloads_leaves_no_partial_file(server, tmp_path):
    # The unfinished file is removed on SIGTERM (also SIGINT and SIGHUP; the test uses SIGTERM,
    # which a shell's background job does not ignore), and ovidctl still dies of the signal.
    server.fake.chunk_delay = 2.0
    env = {k: v for k, v in os.environ.items() if not k.startswith("OVID_")}
    proc = subprocess.Popen([str(OVIDCTL), "--address", server.address, "generate", "--prompt",
                             "x", "--steps", "1", "--output-format", "mp4", "--out-dir",
                             str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    try:
        deadline = time.monotonic() + 30
        while not any(".tmp." in name for name in files_in(tmp_path)):
            assert time.monotonic() < deadline, "no output started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    assert files_in(tmp_path) == []


def test_rejected_request_exits_1(server, tmp_path):
    r = ovidctl("--address", server.address, "generate", "--prompt", "x", "--steps", 500,
                "--out-dir", tmp_path)
    assert r.returncode == 1
    assert "generate failed: INVALID_ARGUMENT: steps: must be in 1..200" in r.stderr


def test_jobs_table_and_state_filter(server):
    server.fake.step_delay = 0.05
    with OvidClient(server.address) as client:
        client.generate(prompt="x", steps=1)
    slow = server.fake.start_job(build_request(prompt="slow", steps=200, priority=-3))
    deadline = time.monotonic() + 10
    while len(slow.events) < 4 and time.monotonic() < deadline:  # running, a few steps in
        time.sleep(0.01)
    r = ovidctl("--address", server.address, "jobs")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "PRIORITY", "PROGRESS", "CREATED"]
    assert lines[1].split()[:4] == ["job-0001", "succeeded", "0", "denoise"]
    assert lines[1].split()[4] == "1/1" and lines[1].endswith("UTC")
    assert lines[2].split()[:4] == ["job-0002", "running", "-3", "denoise"]
    r = ovidctl("--address", server.address, "jobs", "--state", "running")
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["ID", "job-0002"]
    (_, req), = server.fake.calls_of("ListJobs")[1:]
    assert list(req.states) == [pb.JOB_STATE_RUNNING]
    # A tenant column appears once some job has a tenant; "-" for one without.
    server.fake.jobs["job-0002"].tenant = "team-a"
    lines = ovidctl("--address", server.address, "jobs").stdout.splitlines()
    assert lines[0].split() == ["ID", "STATE", "TENANT", "PRIORITY", "PROGRESS", "CREATED"]
    assert lines[1].split()[:4] == ["job-0001", "succeeded", "-", "0"]
    assert lines[2].split()[:4] == ["job-0002", "running", "team-a", "-3"]
    assert "  tenant: team-a" in ovidctl("--address", server.address, "job", "job-0002").stdout
    server.fake.jobs["job-0002"].cancelled = True


def test_job_shows_one_job_and_jobs_json_lists_them(server):
    server.fake.step_delay = 0.05
    server.fake.fail_at_step = (2, grpc.StatusCode.RESOURCE_EXHAUSTED, "CUDA out of memory")
    with OvidClient(server.address) as client:
        with pytest.raises(Exception):
            client.generate(prompt="x", steps=3, client_request_id="req-7")
    server.fake.fail_at_step = None
    slow = server.fake.start_job(build_request(prompt="slow", steps=200, priority=-3))
    deadline = time.monotonic() + 10
    while len(slow.events) < 4 and time.monotonic() < deadline:  # running, a few steps in
        time.sleep(0.01)
    r = ovidctl("--address", server.address, "job", "job-0001")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "job job-0001: failed"
    assert "  client request id: req-7" in lines
    assert "  error: RESOURCE_EXHAUSTED: CUDA out of memory" in lines
    r = ovidctl("--address", server.address, "job", "job-0002")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "job job-0002: running"
    assert "  priority: -3" in r.stdout and "  progress: denoise " in r.stdout
    # --json: the JobStatus as protobuf's JSON mapping has it.
    r = ovidctl("--address", server.address, "job", "job-0002", "--json")
    status = json.loads(r.stdout)
    assert status["job_id"] == "job-0002" and status["state"] == "JOB_STATE_RUNNING"
    assert status["priority"] == -3
    r = ovidctl("--address", server.address, "jobs", "--json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert [j["job_id"] for j in listed["jobs"]] == ["job-0001", "job-0002"]
    assert listed["jobs"][0]["error"]["message"] == "CUDA out of memory"
    # An unknown job: the call's failure, exit 1.
    r = ovidctl("--address", server.address, "job", "nosuch")
    assert r.returncode == 1 and "job nosuch: NOT_FOUND" in r.stderr, r.stderr
    r = ovidctl("--address", server.address, "job")
    assert r.returncode == 2 and "usage: ovidctl job JOB_ID" in r.stderr
    server.fake.jobs["job-0002"].cancelled = True


def test_cancel(server):
    # The fake answers at once, as the daemon does: the job stops at its next step, and ovidctl
    # follows it there (it printed "running" before).
    server.fake.step_delay = 0.05
    job = server.fake.start_job(build_request(prompt="slow", steps=200))
    while server.fake.jobs[job.job_id].state != pb.JOB_STATE_RUNNING:
        time.sleep(0.01)
    r = ovidctl("--address", server.address, "cancel", job.job_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "job-0001 cancelled\n"
    assert server.fake.calls_of("GetJob"), "the answer was not final, so ovidctl polled"
    # --wait 0: the server's answer as it is; a job that does not stop in time exits 1.
    server.fake.ignore_cancel = True
    job = server.fake.start_job(build_request(prompt="slow", steps=200))
    while server.fake.jobs[job.job_id].state != pb.JOB_STATE_RUNNING:
        time.sleep(0.01)
    r = ovidctl("--address", server.address, "cancel", job.job_id, "--wait", "0")
    assert (r.returncode, r.stdout) == (0, "job-0002 running\n"), r.stderr
    r = ovidctl("--address", server.address, "cancel", job.job_id, "--wait", "0.3")
    assert r.returncode == 1 and r.stdout == "job-0002 running\n"
    assert "requested, but the job had not stopped after 0.3 s" in r.stderr
    r = ovidctl("--address", server.address, "cancel", job.job_id, "--wait", "-1")
    assert r.returncode == 2 and "--wait" in r.stderr
    server.fake.ignore_cancel = False
    r = ovidctl("--address", server.address, "cancel", job.job_id)
    assert (r.returncode, r.stdout) == (0, "job-0002 cancelled\n"), r.stderr
    server.fake.forget_on_cancel = True  # as --job-ttl=0 drops an ended job
    job = server.fake.start_job(build_request(prompt="slow", steps=200))
    while server.fake.jobs[job.job_id].state != pb.JOB_STATE_RUNNING:
        time.sleep(0.01)
    r = ovidctl("--address", server.address, "cancel", job.job_id)
    assert (r.returncode, r.stdout) == (0, "job-0003 ended (the server keeps no record of it)\n")
    r = ovidctl("--address", server.address, "cancel", "job-9999")
    assert r.returncode == 1
    assert "cancel job-9999: NOT_FOUND: unknown job id 'job-9999'" in r.stderr


def test_model_text_and_json(server):
    r = ovidctl("--address", server.address, "model")
    assert r.returncode == 0, r.stderr
    assert "720x720_5s (11.66 B parameters)" in r.stdout
    assert "30 layers, text 512 x 4096" in r.stdout
    assert "720 of 2073 tensors quantized" in r.stdout
    assert "batch guidance: auto" in r.stdout
    assert any(line.split() == ["q4_K", "540", "5.00", "GiB"] for line in r.stdout.splitlines())
    assert any(line.split() == ["denoiser", "loaded", "ovi-q4_k_m.gguf"]
               for line in r.stdout.splitlines())
    assert any(line.split() == ["video_vae", "not", "loaded"] for line in r.stdout.splitlines())
    assert "output formats: latents" in r.stdout
    assert ("limits:         2 workers, queue 16 (4 per tenant, tenants take turns, wait at most 90 s), VRAM budget 70.00 GiB, "
            "requests up to 16.00 MiB, finished jobs kept 600 s") in r.stdout
    r = ovidctl("--address", server.address, "model", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["config"]["text_dim"] == 4096
    assert info["quantization"][0] == {"type": "q4_K", "tensors": 540, "bytes": str(5 << 30)}


def test_health(server):
    r = ovidctl("--address", server.address, "health")
    assert (r.returncode, r.stdout) == (0, "(server) SERVING\n")
    r = ovidctl("--address", server.address, "health", "--service", "ovid.v1.Generation")
    assert (r.returncode, r.stdout) == (1, "ovid.v1.Generation NOT_SERVING\n")
    r = ovidctl("--address", server.address, "health", "--service", "nope")
    assert r.returncode == 1 and "health nope: NOT_FOUND" in r.stderr


def test_token_and_address_from_flags_files_and_environment(server, tmp_path):
    server.fake.token = "t0k"
    token_file = tmp_path / "token"
    token_file.write_text("t0k\n")
    assert ovidctl("--address", server.address, "--token", "t0k", "jobs").returncode == 0
    assert ovidctl("jobs", "--token-file", token_file, "--address", server.address).returncode == 0
    assert ovidctl("jobs", env={"OVID_ADDRESS": server.address, "OVID_TOKEN": "t0k"}).returncode == 0
    assert [md["authorization"] for md, _ in server.fake.calls_of("ListJobs")] == ["Bearer t0k"] * 3
    r = ovidctl("--address", server.address, "jobs")
    assert r.returncode == 1 and "jobs: UNAUTHENTICATED: missing or wrong bearer token" in r.stderr
    # A Secret's trailing newline is stripped from every source; a byte no header can carry is a
    # usage error that does not echo the token (gRPC aborted the process and printed it).
    assert ovidctl("jobs", env={"OVID_ADDRESS": server.address, "OVID_TOKEN": "t0k\n"}).returncode == 0
    token_file.write_text("Secr3t\nsecond line\n")
    for args, env in [(["--token-file", token_file], {}), ([], {"OVID_TOKEN": "Secr3t\x7f"})]:
        r = ovidctl("--address", server.address, *args, "jobs", env=env)
        assert r.returncode == 2, r.stderr
        assert "outside printable ASCII (0x21-0x7e) at offset 6" in r.stderr, r.stderr
        assert "Secr3t" not in r.stderr


def test_timeout_bounds_the_whole_command(server, tmp_path):
    server.fake.step_delay = 0.05
    r = ovidctl("--address", server.address, "--timeout", "0.5", "generate", "--prompt", "x",
                "--steps", 200, "--out-dir", tmp_path)
    assert r.returncode == 1 and "DEADLINE_EXCEEDED" in r.stderr


@pytest.mark.parametrize("args", [
    [],
    ["frobnicate"],
    ["jobs", "--bogus"],
    ["jobs", "extra"],
    ["generate", "--steps", "3"],
    ["generate", "--prompt", "a", "--embedding", "e.safetensors"],
    ["generate", "--prompt", "a", "--steps", "-1"],
    ["generate", "--prompt", "a", "--solver", "heun"],
    ["generate", "--prompt", "a", "--output-format", "gif"],
    ["generate", "--prompt", "a", "--seed"],
    ["generate", "--prompt", "a", "--out-dir", "/nonexistent/dir"],
    ["generate", "--embedding", "/nonexistent.safetensors"],
    ["generate", "--job", "job-1", "--steps", "3"],
    ["cancel"],
    ["--token", "a", "--token-file", "b", "jobs"],
    ["jobs", "--state", "sleeping"],
    ["jobs", "--timeout", "0"],
    ["health", "--tls-cert", "/nonexistent.pem"],
    # text that is not UTF-8 cannot travel in a proto string: gRPC refused the whole call with
    # UNIMPLEMENTED and no message (os.fsencode turns "\udce9" back into the byte 0xE9)
    ["generate", "--prompt", "caf\udce9"],
    ["generate", "--prompt", "a", "--client-request-id", "\udcff"],
    ["generate", "--job", "job-\udce9"],
    ["cancel", "job-\udce9"],
])
def test_usage_errors_exit_2(args):
    r = ovidctl("--address", "127.0.0.1:1", *args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr.startswith("ovidctl: ")


def test_address_mistakes_are_named_and_a_bare_host_gets_the_daemons_port():
    # The command taken as the flag's value said only "no command given".
    r = ovidctl("--address", "health")
    assert r.returncode == 2
    assert "no command given ('health' was taken as the value of --address)" in r.stderr
    # An empty address went to gRPC ("UNKNOWN: Failed to create secure client channel", exit 1).
    for args, env in ((["--address=", "jobs"], None), (["jobs"], {"OVID_ADDRESS": ""})):
        r = ovidctl(*args, env=env)
        if env is None:
            assert r.returncode == 2 and "--address: empty address" in r.stderr, r.stderr
        else:  # an empty variable is no address: the default
            assert "127.0.0.1:50051" in r.stderr or "localhost:50051" in r.stderr, r.stderr
    # A host without a port meant port 443 to gRPC; it is the daemon's 50051.
    r = ovidctl("--address", "127.0.0.1", "--timeout", "2", "jobs")
    assert r.returncode == 1 and "127.0.0.1:50051" in r.stderr, r.stderr


def test_a_flag_where_a_value_belongs_is_named():
    # "--steps --seed 3" took "--seed" as the step count and then complained about the "3".
    r = ovidctl("--address", "127.0.0.1:1", "generate", "--prompt", "hi", "--steps", "--seed",
                "3")
    assert r.returncode == 2
    assert "--steps needs a value, got the option --seed" in r.stderr, r.stderr
    r = ovidctl("--address", "127.0.0.1:1", "generate", "--prompt", "--out-dir=x")
    assert r.returncode == 2 and "--prompt needs a value, got the option --out-dir=x" in r.stderr
    # A value that merely starts with "--" is still one: it is not an option's name.
    r = ovidctl("--address", "127.0.0.1:1", "--timeout", "0.2", "generate", "--prompt",
                "--not-an-option")
    assert r.returncode == 1 and "needs a value" not in r.stderr, r.stderr


def test_bad_embedding_file_is_a_usage_error(tmp_path):
    path = tmp_path / "e.safetensors"
    save_file({"context": np.zeros((2, 3, 4), np.float32)}, str(path))
    r = ovidctl("generate", "--embedding", path)
    assert r.returncode == 2 and "'context': shape must be [tokens, dim]" in r.stderr
    save_file({"ctx": np.zeros((2, 4), np.float32)}, str(path))
    r = ovidctl("generate", "--embedding", path)
    assert r.returncode == 2 and "unexpected tensor 'ctx'" in r.stderr
    save_file({"context": np.zeros((2, 4), np.int32)}, str(path))
    r = ovidctl("generate", "--embedding", path)
    assert r.returncode == 2 and "dtype I32 is not a float type" in r.stderr


def test_help_exits_0():
    r = ovidctl("--help")
    assert r.returncode == 0 and "usage: ovidctl" in r.stdout and "generate" in r.stdout
    # After a command too, long or short ("generate -h" was refused as an unknown option).
    for args in (["generate", "-h"], ["jobs", "--help"], ["job", "-h"]):
        r = ovidctl(*args)
        assert r.returncode == 0 and "usage: ovidctl" in r.stdout, (args, r.stderr)


def test_progress_bar_on_a_terminal(server, tmp_path):
    """stderr on a pseudo-terminal: the progress line is redrawn in place with a bar."""
    import os
    import pty
    import subprocess

    from conftest import OVIDCTL
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(OVIDCTL), "--address", server.address, "generate", "--prompt",
                             "x", "--steps", "4", "--out-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    out, _ = proc.communicate(timeout=30)
    os.close(master)
    err = b"".join(chunks).decode()
    assert proc.returncode == 0, err
    assert "\r\x1b[Kdenoise      [" + "#" * 30 + "] 4/4" in err
    assert "\r\x1b[Kdenoise      [" + "#" * 7 + "." * 23 + "] 1/4" in err
    assert "job job-0001 succeeded" in out
