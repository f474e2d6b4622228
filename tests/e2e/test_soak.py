"""A soak of the real daemon: client threads send a random mix of requests for a while (jobs that
run to the end, streams cancelled by their client, CancelJob, kept jobs re-attached after a
disconnect, call deadlines, queue limits, out-of-memory faults, invalid requests, a full queue,
priorities), and afterwards every job must have ended exactly once, in a state that agrees with
what its client saw, every output must be the bytes the same request gave when it ran alone (no
request was mixed up with another), the counters must equal the clients' tally, one log line
per job, and the daemon must be ready, back at its idle device memory (on a GPU), and drain to
exit 0.

Meanwhile two watcher threads follow other clients' jobs, live or finished, with WatchJob
from event 0 or 1 or a whole re-attach, and check what they get the same way.

OVID_SOAK_SECONDS (default 20) sets how long the load runs, OVID_SOAK_CLIENTS (default 6) how
many threads send it and OVID_SOAK_WORKERS (default 2) to how many workers; OVID_E2E_DEVICE=cuda
runs the daemon on the GPU."""
import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
import numpy as np

import ovid_client
from conftest import make_request
from daemon import DEVICE, wait_for
from ovid_client import pb

SECONDS = float(os.environ.get("OVID_SOAK_SECONDS", "20"))
CLIENTS = int(os.environ.get("OVID_SOAK_CLIENTS", "6"))
WORKERS = int(os.environ.get("OVID_SOAK_WORKERS", "2"))
OUTCOMES = ("succeeded", "failed", "cancelled", "rejected")  # ovid_requests_total{outcome}
WATCHERS = 2  # threads that follow other clients' jobs (WatchJob, re-attach) meanwhile
OOM_STEP = 3  # --fault-oom-at-step: a job that reaches this step fails as out of memory
# What a request may be: (seed, steps, video_guidance); each runs alone, twice, before the load,
# and its bytes are the reference for every later run. Fewer steps than OOM_STEP: they succeed.
KINDS = [(1, 2, None), (2, 1, None), (3, 2, 2.5), (4, 2, None)]
# Client actions and their weights.
ACTIONS = {"complete": 8, "stream_cancel": 3, "cancel_job": 3, "reattach": 3, "deadline": 2,
           "queue_limit": 2, "oom": 2, "invalid": 1}


@dataclass
class Outcome:
    """What one client call saw: the action, the request kind, the job id if the call learnt
    one, how the call ended (a grpc.StatusCode and its message) and the output it received."""
    action: str
    kind: int
    crid: str  # the request's client_request_id: finds the job even if the call never saw it
    job_id: str = ""
    code: grpc.StatusCode = grpc.StatusCode.OK
    message: str = ""
    output: bytes = b""


@dataclass
class Tally:
    outcomes: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    errors: list = field(default_factory=list)
    watches: int = 0  # jobs followed by the watchers

    def add(self, outcome):
        with self.lock:
            self.outcomes.append(outcome)


def _request(client, kind, **kwargs):
    """A request of one kind; kwargs override its fields."""
    seed, steps, video_guidance = KINDS[kind]
    fields = dict(seed=seed, steps=steps, video_guidance=video_guidance)
    fields.update(kwargs)
    return make_request(client, **fields)


def _latents(result):
    return result.outputs[pb.OUTPUT_FORMAT_LATENTS]


def _until_accepted(stream):
    """Reads a raw Generate stream up to its Accepted event; returns the job id."""
    for event in stream:
        if event.HasField("accepted"):
            return event.job_id
    raise AssertionError("the stream ended before Accepted")


def _run_action(daemon, client, rng, action, kind, priority, crid):
    """One client call of the given kind; returns its Outcome. Refusals at admission (a full
    queue) end any action early."""
    out = Outcome(action, kind, crid)
    extra = dict(priority=priority, client_request_id=crid)
    try:
        if action in ("complete", "oom", "queue_limit"):
            if action == "oom":
                extra["steps"] = OOM_STEP + 1
            elif action == "queue_limit":
                extra["max_queue_seconds"] = rng.choice([0.02, 0.1, 0.3])
            request = _request(client, kind, **extra)
            result = client.generate(request)
            out.job_id, out.output = result.job_id, _latents(result)
        elif action == "invalid":
            client.generate(_request(client, kind, steps=0, **extra))
        elif action == "deadline":
            with ovid_client.OvidClient(daemon.address, timeout=rng.uniform(0.2, 0.8)) as short:
                result = short.generate(_request(short, kind, **extra))
                out.job_id, out.output = result.job_id, _latents(result)
        else:  # stream_cancel, cancel_job, reattach: a raw stream, read up to Accepted
            keep = action == "reattach"
            request = _request(client, kind, keep_on_disconnect=keep, **extra)
            with grpc.insecure_channel(daemon.address) as channel:
                stream = ovid_client.pb_grpc.GenerationStub(channel).Generate(request)
                out.job_id = _until_accepted(stream)
                time.sleep(rng.uniform(0.0, 0.3))
                if action == "cancel_job":
                    client.cancel(out.job_id)
                    # The stream ends with the job: CANCELLED, or OK if it finished first.
                    try:
                        for _ in stream:
                            pass
                    except grpc.RpcError as e:
                        out.code, out.message = e.code(), e.details()
                    return out
                stream.cancel()
            if keep:
                result = client.attach(out.job_id)
                out.output = _latents(result)
            else:
                out.code = grpc.StatusCode.CANCELLED
    except grpc.RpcError as e:  # a raw stream refused at admission
        out.code, out.message = e.code(), e.details()
    except ovid_client.OvidError as e:
        out.code, out.message = e.code, e.message
        out.job_id = out.job_id or e.job_id
    return out


def _client_loop(daemon, index, stop_at, tally):
    rng = random.Random(1000 + index)
    names, weights = zip(*ACTIONS.items())
    try:
        with ovid_client.OvidClient(daemon.address) as client:
            # Every action once, in a shuffled order, then a weighted random mix.
            first = list(names)
            rng.shuffle(first)
            calls = 0
            while time.monotonic() < stop_at:
                action = first[calls] if calls < len(first) else rng.choices(names, weights)[0]
                kind = rng.randrange(len(KINDS))
                calls += 1
                out = _run_action(daemon, client, rng, action, kind, rng.choice([-5, 0, 0, 5]),
                                  f"soak-{index}-{calls}-{action}-{kind}")
                tally.add(out)
                if out.code == grpc.StatusCode.RESOURCE_EXHAUSTED and not out.job_id:
                    time.sleep(rng.uniform(0.05, 0.25))  # a full queue: back off, as clients do
    except BaseException as e:  # an assertion or a crash of the client itself
        with tally.lock:
            tally.errors.append(f"client {index}: {e!r}")


def _check_watch(client, rng, job, references):
    """Follows one job as a second client would: WatchJob from event 0 or 1 (indices in order,
    one job, a terminal last event), or a whole re-attach (the output of the same request run
    alone, or the job's error). Returns what is wrong, or ""."""
    _, _, _, action, kind = job.client_request_id.split("-")
    kind = int(kind)
    if rng.random() < 0.5:
        start = rng.randrange(2)  # every job has an Accepted and a last event
        events, code = [], grpc.StatusCode.OK
        try:
            for event in client.watch(job.job_id, from_event=start):
                events.append(event)
        except ovid_client.OvidError as e:
            code = e.code
        if [e.index for e in events] != list(range(start, start + len(events))):
            return f"{job.job_id}: event indices {[e.index for e in events]} from {start}"
        if {e.job_id for e in events} != {job.job_id}:
            return f"{job.job_id}: events of {sorted({e.job_id for e in events})}"
        if not events or events[-1].WhichOneof("event") not in ("final", "error"):
            return f"{job.job_id}: the watch ended without a final event ({code})"
        return ""
    try:
        output = _latents(client.attach(job.job_id))
    except ovid_client.OvidError as e:
        allowed = ({grpc.StatusCode.RESOURCE_EXHAUSTED} if action == "oom" else
                   {grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED})
        return "" if e.code in allowed else f"{job.job_id} ({action}): {e.code} {e.message}"
    if action == "oom":
        return f"{job.job_id}: an out-of-memory job succeeded"
    return "" if output == references[kind] else f"{job.job_id} ({action}, kind {kind}): " + \
        _difference(output, references)


def _watch_loop(daemon, index, stop_at, references, tally):
    """A second client that follows the soak's jobs while they run: ListJobs, then one job
    (queued or running if any) watched or re-attached."""
    rng = random.Random(2000 + index)
    try:
        with ovid_client.OvidClient(daemon.address, timeout=120) as client:
            while time.monotonic() < stop_at:
                jobs = [j for j in client.list_jobs() if j.client_request_id.startswith("soak-")]
                live = [j for j in jobs if j.state in (pb.JOB_STATE_QUEUED, pb.JOB_STATE_RUNNING)]
                if not jobs:
                    time.sleep(0.05)
                    continue
                problem = _check_watch(client, rng, rng.choice(live or jobs), references)
                with tally.lock:
                    tally.watches += 1
                    if problem:
                        tally.errors.append(f"watcher {index}: {problem}")
    except BaseException as e:
        with tally.lock:
            tally.errors.append(f"watcher {index}: {e!r}")


def _difference(output, references):
    """Why an output is not its reference: the kind whose bytes it has instead (a mix-up), or
    the largest difference from each reference's latents."""
    for k, ref in enumerate(references):
        if output == ref:
            return f"the bytes of kind {k}"
    got = ovid_client.parse_latents(output)
    diffs = []
    for k, ref in enumerate(references):
        want = ovid_client.parse_latents(ref)
        diffs.append(f"kind {k}: " + ", ".join(
            f"{name} max |diff| {float(np.max(np.abs(got[name] - want[name]))):.3g}"
            for name in sorted(want) if got[name].shape == want[name].shape))
    return "no kind's bytes; " + "; ".join(diffs)


def _expected_state(out):
    """The job states that agree with what the client saw."""
    s = pb
    if out.action == "oom":
        assert out.code == grpc.StatusCode.RESOURCE_EXHAUSTED, (
            f"job {out.job_id} passed step {OOM_STEP} without its out-of-memory fault: {out.code}")
        return {s.JOB_STATE_FAILED}
    if out.code == grpc.StatusCode.OK and out.action != "cancel_job":
        return {s.JOB_STATE_SUCCEEDED}
    if out.action == "stream_cancel":
        # Cancelled by its stream, unless it had already finished (or failed) by then.
        return {s.JOB_STATE_CANCELLED, s.JOB_STATE_SUCCEEDED}
    if out.action == "cancel_job":
        return ({s.JOB_STATE_SUCCEEDED} if out.code == grpc.StatusCode.OK
                else {s.JOB_STATE_CANCELLED})
    if out.action == "deadline" and out.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        # The call's deadline stops the job; one that finished as the deadline struck on the
        # client's side keeps its success.
        return {s.JOB_STATE_CANCELLED, s.JOB_STATE_SUCCEEDED}
    if out.action == "queue_limit" and out.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        assert "max_queue_seconds" in out.message, out  # the server's queue limit
        return {s.JOB_STATE_CANCELLED}
    raise AssertionError(f"unexpected outcome for an admitted job: {out}")


def test_a_mixed_concurrent_load_ends_every_job_once_with_its_own_output(start_daemon):
    # Both guidance passes batched, as a GPU runs every job that fits (a CPU daemon's default,
    # auto without a budget, runs them apart; the other e2e files cover that path).
    daemon = start_daemon(f"--workers={WORKERS}", "--batch-guidance=on", "--max-queue=4",
                          "--fault-step-delay-ms=60",
                          f"--fault-oom-at-step={OOM_STEP}", "--max-jobs-kept=100000",
                          "--max-kept-bytes=8G")
    # Calls of the test itself have a deadline, so a daemon that stopped answering fails the test
    # at the call that hung instead of stalling it.
    with ovid_client.OvidClient(daemon.address, timeout=120) as client:
        # Every kind alone first: its reference bytes, and the device memory the daemon goes
        # back to between jobs once it has run every size (per-size tables stay cached).
        references = [_latents(client.generate(_request(client, k))) for k in range(len(KINDS))]
        assert len(set(references)) == len(KINDS)
        # Alone, one after another, a request gives the same bytes again.
        for k in range(len(KINDS)):
            again = _latents(client.generate(_request(client, k)))
            assert again == references[k], (
                f"kind {k} alone gave other bytes the second time: "
                f"{_difference(again, references)}")
        idle = daemon.metric("ovid_torch_allocated_bytes")
        before = {o: daemon.metric("ovid_requests_total", outcome=o) for o in OUTCOMES}

        tally = Tally()
        stop_at = time.monotonic() + SECONDS
        threads = [threading.Thread(target=_client_loop, args=(daemon, i, stop_at, tally))
                   for i in range(CLIENTS)]
        threads += [threading.Thread(target=_watch_loop,
                                     args=(daemon, i, stop_at, references, tally))
                    for i in range(WATCHERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 300)
            assert not t.is_alive(), "a client call never returned"
        assert not tally.errors, tally.errors
        outcomes = tally.outcomes
        actions = Counter(o.action for o in outcomes)
        codes = Counter(o.code for o in outcomes)
        print(f"soak: {len(outcomes)} calls over {SECONDS:.0f} s on {DEVICE}; "
              f"actions {dict(actions)}; codes {dict((c.name, n) for c, n in codes.items())}; "
              f"{tally.watches} jobs followed by {WATCHERS} watchers")
        assert tally.watches > 0
        # The load did what it is for: every action ran, and the queue overflowed at times.
        assert set(actions) == set(ACTIONS), actions
        assert codes[grpc.StatusCode.OK] > 0
        began = time.monotonic()

        def phase(what):
            print(f"soak: {what} checked at +{time.monotonic() - began:.1f} s")

        # Afterwards nothing is left queued or running.
        wait_for("jobs still queued or running", lambda: all(
            j.state in (pb.JOB_STATE_SUCCEEDED, pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED)
            for j in client.list_jobs()))
        jobs = {j.job_id: j for j in client.list_jobs()}
        by_crid = Counter(j.client_request_id for j in jobs.values())
        assert all(n == 1 for crid, n in by_crid.items() if crid), "one request, two jobs"
        job_of = {j.client_request_id: j for j in jobs.values() if j.client_request_id}
        assert len(jobs) == len(job_of) + 2 * len(KINDS), "jobs nobody submitted"
        admitted, late = [], []
        for out in outcomes:
            job = job_of.get(out.crid)
            if out.job_id:
                assert job is not None and job.job_id == out.job_id, f"job of {out} was lost"
            if job is None:
                # Never a job: refused at admission, as invalid or for a full queue.
                if out.action == "invalid":
                    assert out.code == grpc.StatusCode.INVALID_ARGUMENT, out
                    assert "steps" in out.message, out
                elif out.action == "deadline" and out.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    late.append(out)  # the deadline struck before the daemon admitted it
                else:
                    assert out.code == grpc.StatusCode.RESOURCE_EXHAUSTED, out
                    assert "queue full" in out.message, out
                continue
            assert out.action != "invalid", out
            admitted.append(out)
            # Every admitted job ended once, in the state its client saw.
            assert job.state in _expected_state(out), (out, job.state)
        phase("every job's state")
        # Every output is the bytes of the same request run alone: no request got another's
        # output, and concurrency, cancellations and faults around it changed nothing.
        wrong = [o for o in admitted if o.output and o.output != references[o.kind]]
        assert not wrong, (
            f"{len(wrong)} of {sum(1 for o in admitted if o.output)} outputs differ from the "
            "same request run alone; the first: " + "; ".join(
                f"{o.job_id} ({o.action}, kind {o.kind}): {_difference(o.output, references)}"
                for o in wrong[:5]))
        phase("every output")
        states = Counter(job_of[o.crid].state for o in admitted)
        print(f"soak: {len(admitted)} jobs, {len(late)} calls past their deadline before "
              f"admission; states {dict((pb.JobState.Name(k), n) for k, n in states.items())}")
        assert states[pb.JOB_STATE_SUCCEEDED] > 0 and states[pb.JOB_STATE_CANCELLED] > 0
        assert states[pb.JOB_STATE_FAILED] > 0  # the out-of-memory faults

        # One log line per job, written when its worker is done with it.
        def logged():
            return Counter(m.group(1) for m in re.finditer(r"job finished .*?job=(\S+)",
                                                            daemon.log()))
        wait_for("a job without its log line", lambda: set(logged()) >= set(jobs))
        assert all(n == 1 for n in logged().values()), logged()
        phase("the log lines")

        # The counters moved by exactly what the clients saw.
        requests = {o: daemon.metric("ovid_requests_total", outcome=o) - before[o]
                    for o in OUTCOMES}
        refused = len(outcomes) - len(admitted) - len(late)
        assert refused <= requests["rejected"] <= refused + len(late)
        assert requests["succeeded"] == states[pb.JOB_STATE_SUCCEEDED]
        assert requests["failed"] == states[pb.JOB_STATE_FAILED]
        assert requests["cancelled"] == states[pb.JOB_STATE_CANCELLED]
        assert daemon.metric("ovid_queue_depth") == 0
        assert daemon.metric("ovid_requests_running") == 0
        if DEVICE != "cpu":
            # No device memory left behind by cancelled, failed or timed-out jobs.
            allocated = daemon.metric("ovid_torch_allocated_bytes")
            assert allocated == idle, (idle, allocated)

        phase("the counters and memory")
        assert client.health("ovid.v1.Generation") == "SERVING"
        assert _latents(client.generate(_request(client, 0))) == references[0]
    daemon.signal()
    assert daemon.wait_exit(120) == 0, daemon.log()
