"""Scheduling on the real daemon: GenerateRequest.priority orders the queue, and a job that waits
past its queue limit (max_queue_seconds, --max-queue-wait) ends with DEADLINE_EXCEEDED without
running, counted as reason="queue_timeout"."""
import re
import subprocess
import threading
import time

import grpc
import pytest

import ovid_client
from conftest import make_request
from daemon import BIN, OVID, wait_for
from ovid_client import pb


def _failures(daemon, reason):
    return daemon.metric("ovid_request_failures_total", reason=reason)


class _Background:
    """client.generate(request) on a thread; .result is the GenerateResult or the OvidError."""

    def __init__(self, client, request):
        self.result = None
        self._thread = threading.Thread(target=self._run, args=(client, request))
        self._thread.start()

    def _run(self, client, request):
        try:
            self.result = client.generate(request)
        except ovid_client.OvidError as e:
            self.result = e

    def join(self):
        self._thread.join(120)
        return self.result


def _start_blocker(client, steps):
    """A job that holds the only worker; returns once it is running."""
    blocker = _Background(client, make_request(client, seed=1, steps=steps))
    wait_for("the blocker never ran", lambda: any(
        j.state == pb.JOB_STATE_RUNNING for j in client.list_jobs()))
    return blocker


def _queued_count(client):
    return sum(j.state == pb.JOB_STATE_QUEUED for j in client.list_jobs())


def test_higher_priority_jobs_start_first_and_equal_ones_in_arrival_order(start_daemon):
    daemon = start_daemon("--workers=1", "--max-queue=8", "--fault-step-delay-ms=100")
    with ovid_client.OvidClient(daemon.address) as client:
        blocker = _start_blocker(client, steps=20)  # 2 s: long enough to queue the four
        submitted = []
        for seed, priority in [(10, -5), (11, 0), (12, 10), (13, 0)]:
            submitted.append((priority, _Background(
                client, make_request(client, seed=seed, steps=1, priority=priority))))
            # One at a time, so arrival order is what this loop says.
            wait_for("a job did not queue", lambda n=len(submitted): _queued_count(client) == n)
        queued = {j.job_id: j for j in client.list_jobs() if j.state == pb.JOB_STATE_QUEUED}
        assert sorted(j.priority for j in queued.values()) == [-5, 0, 0, 10]
        assert blocker.join().final.parameters.steps == 20
        results = [(priority, job.join()) for priority, job in submitted]
        assert all(isinstance(r, ovid_client.GenerateResult) for _, r in results), results
        started = {r.job_id: client.get_job(r.job_id).started.ToNanoseconds() for _, r in results}
        by_start = sorted((r for _, r in results), key=lambda r: started[r.job_id])
        # Priority 10 first, then the two 0s in arrival order, then -5.
        assert [r.seed for r in by_start] == [12, 11, 13, 10]
    # The job's log line names a priority other than the default.
    assert daemon.wait_for_log(r"job finished .*priority=(10) ", timeout=10) == 10
    assert daemon.wait_for_log(r"job finished .*priority=(-5) ", timeout=10) == -5


def test_a_job_past_its_max_queue_seconds_ends_with_deadline_exceeded(start_daemon):
    daemon = start_daemon("--workers=1", "--fault-step-delay-ms=200")
    with ovid_client.OvidClient(daemon.address) as client:
        blocker = _start_blocker(client, steps=10)
        start = time.monotonic()
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(make_request(client, seed=2, steps=1, max_queue_seconds=0.3))
        waited = time.monotonic() - start
        assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "max_queue_seconds" in err.value.message and "limit 0.3 s" in err.value.message
        assert 0.3 <= waited < 1.8, waited  # well before the blocker's 2 s are up
        assert isinstance(blocker.join(), ovid_client.GenerateResult)
        timed_out = [j for j in client.list_jobs() if j.state == pb.JOB_STATE_CANCELLED]
        assert len(timed_out) == 1
        assert timed_out[0].started.ToNanoseconds() == 0  # never started: the zero timestamp
        assert timed_out[0].error.code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
        assert _failures(daemon, "queue_timeout") == 1
        assert _failures(daemon, "deadline_exceeded") == 0


def test_the_servers_max_queue_wait_applies_to_every_request(start_daemon):
    daemon = start_daemon("--workers=1", "--fault-step-delay-ms=200", "--max-queue-wait=300ms")
    with ovid_client.OvidClient(daemon.address) as client:
        assert client.model().limits.max_queue_wait_seconds == pytest.approx(0.3)
        blocker = _start_blocker(client, steps=10)
        # The request's hour does not lengthen the server's 300 ms.
        with pytest.raises(ovid_client.OvidError) as err:
            client.generate(make_request(client, seed=3, steps=1, max_queue_seconds=3600))
        assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "limit 0.3 s" in err.value.message, err.value.message
        assert isinstance(blocker.join(), ovid_client.GenerateResult)
        # A job that starts at once is not bound by the limit, however long it runs (2 s).
        assert client.generate(make_request(client, seed=4, steps=10)).final.parameters.steps == 10
        assert _failures(daemon, "queue_timeout") == 1


def test_out_of_range_scheduling_fields_are_invalid_arguments(daemon):
    cases = [("priority", 101, "priority: 101 is outside -100..100"),
             ("priority", -101, "priority: -101 is outside -100..100"),
             ("max_queue_seconds", 0.0, "max_queue_seconds: 0 is outside [0.01, 86400]"),
             ("max_queue_seconds", 86401.0, "max_queue_seconds: 86401 is outside [0.01, 86400]")]
    with ovid_client.OvidClient(daemon.address) as client:
        for field, value, message in cases:
            with pytest.raises(ovid_client.OvidError) as err:
                client.generate(make_request(client, **{field: value}))
            assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, field
            assert message in err.value.message, err.value.message
        assert client.list_jobs() == []
        assert _failures(daemon, "invalid_argument") == len(cases)


def test_a_per_tenant_queue_limit_that_cannot_bind_is_warned_about():
    """--max-queue-per-tenant at or above --max-queue would let one tenant fill the queue after
    all: the start says so (the model never loads; the warning comes before)."""
    def start(*flags):
        return subprocess.run([str(OVID), "--model=never-loaded.gguf", "--listen=127.0.0.1:0",
                               "--metrics-listen=127.0.0.1:0", "--device=cpu", *flags],
                              capture_output=True, text=True, timeout=60).stderr
    warned = start("--max-queue=4", "--max-queue-per-tenant=4")
    assert re.search(r"WARN --max-queue-per-tenant has no effect max_queue_per_tenant=4 "
                     r"max_queue=4 ", warned), warned
    assert "--max-queue-per-tenant" not in start("--max-queue=4", "--max-queue-per-tenant=3")


class _Tenants:
    """A daemon with a token file of tenants alpha and beta and an operator token (no tenant),
    one client each; `queue(jobs)` submits (tenant, steps) jobs in order while alpha's blocker
    runs, each one queued before the next."""

    TOKENS = {"alpha": "alpha-t0ken-e2e-0123", "beta": "beta-t0ken-e2e-01234",
              "": "operator-t0ken-e2e-0"}

    def __init__(self, start_daemon, tmp_path, *flags):
        token_file = tmp_path / "tokens"
        token_file.write_text("".join(f"{token} tenant={tenant}\n" if tenant else f"{token}\n"
                                      for tenant, token in self.TOKENS.items()))
        daemon = start_daemon(f"--auth-token-file={token_file}", "--workers=1", "--max-queue=8",
                              *flags)
        self.address = daemon.address
        self.clients = {t: ovid_client.OvidClient(daemon.address, token=tok)
                        for t, tok in self.TOKENS.items()}
        self.operator = self.clients[""]
        self.submitted = []

    def queue(self, jobs):
        self.blocker = _start_blocker(self.clients["alpha"], steps=20)
        for n, (tenant, steps) in enumerate(jobs):
            client = self.clients[tenant]
            self.submitted.append((tenant, _Background(
                client, make_request(client, seed=20 + n, steps=steps))))
            wait_for("a job did not queue", lambda n=n: _queued_count(self.operator) == n + 1)

    def tenants_by_start(self):
        """Waits for every job; the queued jobs' tenants in the order their jobs started."""
        assert isinstance(self.blocker.join(), ovid_client.GenerateResult)
        results = [(tenant, job.join()) for tenant, job in self.submitted]
        assert all(isinstance(r, ovid_client.GenerateResult) for _, r in results), results
        started = {r.job_id: self.operator.get_job(r.job_id).started.ToNanoseconds()
                   for _, r in results}
        return [tenant for tenant, r in sorted(results, key=lambda tr: started[tr[1].job_id])]

    def close(self):
        for client in self.clients.values():
            client.close()


@pytest.mark.parametrize("policy", ["fair", "fifo"])
def test_tenants_take_turns_unless_the_queue_is_fifo(start_daemon, tmp_path, policy):
    """Token file tenants: alpha's job runs and alpha queues two more, then beta one. With
    --tenant-scheduling=fair (the default) beta's job starts next; with fifo it waits its turn
    in arrival order. Queue positions (GetJob) say the same as the start times."""
    tenants = _Tenants(start_daemon, tmp_path, "--fault-step-delay-ms=100",
                       *([] if policy == "fair" else ["--tenant-scheduling=fifo"]))
    try:
        assert tenants.operator.model().limits.tenant_scheduling == policy
        tenants.queue([("alpha", 1), ("alpha", 1), ("beta", 1)])
        positions = {j.job_id: (j.tenant, j.queue_position) for j in tenants.operator.list_jobs()
                     if j.state == pb.JOB_STATE_QUEUED}
        want = {"fair": [("alpha", 1), ("alpha", 2), ("beta", 0)],
                "fifo": [("alpha", 0), ("alpha", 1), ("beta", 2)]}[policy]
        assert sorted(positions.values()) == sorted(want), positions
        assert tenants.tenants_by_start() == {"fair": ["beta", "alpha", "alpha"],
                                              "fifo": ["alpha", "alpha", "beta"]}[policy]
    finally:
        tenants.close()


@pytest.mark.parametrize("policy", ["share", "fair"])
def test_with_share_a_tenant_of_short_jobs_gets_as_much_worker_time(start_daemon, tmp_path,
                                                                    policy):
    """alpha's job of 20 steps (~3 s here) runs while alpha queues another and beta four of 2
    steps (~0.3 s each). With --tenant-scheduling=share beta has used less worker time until all
    four have run, so they all start before alpha's second; with fair the tenants alternate."""
    tenants = _Tenants(start_daemon, tmp_path, "--fault-step-delay-ms=50",
                       f"--tenant-scheduling={policy}")
    try:
        assert tenants.operator.model().limits.tenant_scheduling == policy
        model = subprocess.run([str(BIN / "ovidctl"), f"--address={tenants.address}",
                                f"--token={_Tenants.TOKENS['']}", "model"],
                               capture_output=True, text=True, timeout=60)
        assert model.returncode == 0, model.stderr
        assert {"share": "tenants share worker time",
                "fair": "tenants take turns"}[policy] in model.stdout, model.stdout
        tenants.queue([("alpha", 20)] + [("beta", 2)] * 4)
        assert tenants.tenants_by_start() == {
            "share": ["beta", "beta", "beta", "beta", "alpha"],
            "fair": ["beta", "alpha", "beta", "beta", "beta"]}[policy]
    finally:
        tenants.close()
