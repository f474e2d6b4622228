"""Bearer tokens, TLS, mutual TLS, and the plaintext health listener for kubelet probes."""
import calendar
import json
import os
import re
import resource
import signal
import subprocess
import time

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import ovid_client
from conftest import make_request
from daemon import OVID, SERVICE, wait_for
from half_sent import HalfSentCalls


def test_bearer_token_is_required_except_for_health(start_daemon, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("t0ken-e2e\n")
    daemon = start_daemon(f"--auth-token-file={token_file}")
    assert daemon.health(SERVICE) == "SERVING"  # probes carry no token
    with ovid_client.OvidClient(daemon.address) as anonymous:
        with pytest.raises(ovid_client.OvidError) as err:
            anonymous.list_jobs()
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    with ovid_client.OvidClient(daemon.address, token="wr0ng-e2e-9f3") as wrong:
        with pytest.raises(ovid_client.OvidError) as err:
            wrong.model()
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert "t0ken" not in err.value.message
    with ovid_client.OvidClient(daemon.address, token="t0ken-e2e") as client:
        assert client.generate(make_request(client, steps=1)).final.parameters.steps == 1
    # Both refusals are in the log with the method and the client's address (not only in the
    # request counter), and never with a token, the refused one or the valid one.
    log = daemon.log()
    for method in ("ListJobs", "GetModel"):
        lines = [line for line in log.splitlines()
                 if "request refused" in line and f"method={method}" in line]
        assert len(lines) == 1, log
        assert "UNAUTHENTICATED" in lines[0] and "peer=" in lines[0], lines[0]
    assert "wr0ng-e2e-9f3" not in log and "t0ken-e2e" not in log, log
    # Nothing slows down guessing, so a 9-character token is named as guessable.
    assert re.search(r"WARN guessable bearer tokens short_tokens=1 ", log), log



def test_tenants_see_only_their_own_jobs(start_daemon, tmp_path):
    """Token file lines "TOKEN tenant=NAME": a tenant's tokens list, get, watch and cancel only its
    own jobs; a token without a tenant (the operator's) sees them all, with their tenants."""
    tokens = {"alpha": "alpha-t0ken-e2e-0123", "beta": "beta-t0ken-e2e-01234",
              "": "operator-t0ken-e2e-0"}
    token_file = tmp_path / "tokens"
    token_file.write_text("# tenants\n" + "".join(
        f"{token} tenant={tenant}\n" if tenant else f"{token}\n" for tenant, token in tokens.items()))
    daemon = start_daemon(f"--auth-token-file={token_file}")
    jobs = {}
    for tenant in ("alpha", "beta"):
        with ovid_client.OvidClient(daemon.address, token=tokens[tenant]) as client:
            jobs[tenant] = client.generate(make_request(client, steps=1)).job_id
    with ovid_client.OvidClient(daemon.address, token=tokens["alpha"]) as alpha:
        assert [j.job_id for j in alpha.list_jobs()] == [jobs["alpha"]]
        assert alpha.get_job(jobs["alpha"]).tenant == "alpha"
        with pytest.raises(ovid_client.OvidError) as err:
            alpha.get_job(jobs["beta"])
        assert err.value.code == grpc.StatusCode.NOT_FOUND
    with ovid_client.OvidClient(daemon.address, token=tokens[""]) as operator:
        assert {j.job_id: j.tenant for j in operator.list_jobs()} == \
            {jobs["alpha"]: "alpha", jobs["beta"]: "beta"}
    for tenant in ("alpha", "beta"):
        assert re.search(rf"job finished job={jobs[tenant]} tenant={tenant} ", daemon.log())
        assert daemon.metric("ovid_tenant_jobs_total", tenant=tenant, outcome="succeeded") == 1
        assert daemon.metric("ovid_tenant_run_seconds_total", tenant=tenant) > 0
        assert daemon.metric("ovid_tenant_queue_wait_seconds_count", tenant=tenant) == 1
    # A tenant added by a reload has its series at 0 from then on.
    with open(token_file, "a") as tokens_out:
        tokens_out.write("gamma-t0ken-e2e-0123 tenant=gamma\n")
    daemon.signal(signal.SIGHUP)
    wait_for("the reload", lambda: "token file reloaded" in daemon.log(), timeout=10)
    assert daemon.metric("ovid_tenant_jobs_total", tenant="gamma", outcome="failed") == 0
    assert daemon.metric("ovid_tenant_run_seconds_total", tenant="gamma") == 0
    assert daemon.metric("ovid_tenant_queue_wait_seconds_count", tenant="gamma") == 0


def test_sighup_reloads_the_token_file_for_an_overlapping_rotation(start_daemon, tmp_path):
    token_file = tmp_path / "tokens"
    token_file.write_text("old-t0ken\n")
    # Only the signal: no periodic check that could read the file first.
    daemon = start_daemon(f"--auth-token-file={token_file}", "--reload-interval=0")

    def hup_and_wait(message):
        seen = daemon.log().count(message)
        daemon.signal(signal.SIGHUP)
        wait_for(message, lambda: daemon.log().count(message) > seen, timeout=10)

    def accepted(token):
        with ovid_client.OvidClient(daemon.address, token=token) as client:
            try:
                client.list_jobs()
                return True
            except ovid_client.OvidError as err:
                assert err.code == grpc.StatusCode.UNAUTHENTICATED, err.message
                return False

    assert accepted("old-t0ken") and not accepted("new-t0ken")
    token_file.write_text("old-t0ken\nnew-t0ken\n")  # step 1: both, while clients move
    hup_and_wait("token file reloaded")
    assert re.search(r"token file reloaded cause=SIGHUP tokens=2", daemon.log()), daemon.log()
    assert accepted("old-t0ken") and accepted("new-t0ken")
    token_file.write_text("new-t0ken\n")  # step 2: the old one dropped
    hup_and_wait("token file reloaded")
    assert accepted("new-t0ken") and not accepted("old-t0ken")
    # A bad file (emptied, or a byte no header carries) keeps the tokens in force and says why.
    token_file.write_text("")
    hup_and_wait("token file not reloaded")
    assert "is empty" in daemon.log()
    assert accepted("new-t0ken") and not accepted("")
    assert daemon.proc.poll() is None
    assert "new-t0ken" not in daemon.log() and "old-t0ken" not in daemon.log()



def test_a_changed_token_file_is_picked_up_without_a_signal(start_daemon, tmp_path):
    """In Kubernetes nobody sends SIGHUP: the kubelet swaps the mounted Secret's file and ovid
    notices the new version at its next check (--reload-interval)."""
    token_file = tmp_path / "tokens"
    token_file.write_text("old-t0ken\n")
    daemon = start_daemon(f"--auth-token-file={token_file}", "--reload-interval=1s")

    def accepted(token):
        with ovid_client.OvidClient(daemon.address, token=token) as client:
            try:
                return client.list_jobs() is not None
            except ovid_client.OvidError as err:
                assert err.code == grpc.StatusCode.UNAUTHENTICATED, err.message
                return False

    assert accepted("old-t0ken") and not accepted("new-t0ken")
    staged = tmp_path / "tokens.new"
    staged.write_text("new-t0ken\n")
    os.replace(staged, token_file)
    wait_for("the new token accepted", lambda: accepted("new-t0ken"), timeout=15)
    assert not accepted("old-t0ken")
    assert re.search(r"token file reloaded cause=\"file changed\" tokens=1", daemon.log()), daemon.log()
    # A broken version is reported once (not at every check) and the tokens in force stay.
    staged.write_text("bad\x01token\n")
    os.replace(staged, token_file)  # whole: a check between truncate and write would see it empty
    wait_for("the bad file reported", lambda: "token file not reloaded" in daemon.log(), timeout=15)
    time.sleep(2.5)
    assert daemon.log().count("token file not reloaded") == 1, daemon.log()
    assert "offset 3 of the token on line 1" in daemon.log()
    assert "bad\x01token" not in daemon.log() and "bad\\x01token" not in daemon.log()
    assert accepted("new-t0ken")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


EXPIRY = "ovid_tls_certificate_expiry_timestamp_seconds"


def _not_after(certificate):
    """The certificate's notAfter in Unix seconds, as openssl reads it."""
    text = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", certificate],
                          check=True, capture_output=True, text=True).stdout
    return calendar.timegm(time.strptime(text.strip().removeprefix("notAfter="),
                                         "%b %d %H:%M:%S %Y %Z"))


def _make_pki(d, days=2):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days), "-subj", "/CN=ovid-test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=ovid-{name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        extra = ["-extfile", "server.ext"] if name == "server" else []
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", str(days), "-out", f"{name}.pem", *extra, cwd=d)
    return d


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    return _make_pki(tmp_path_factory.mktemp("pki"))


def test_a_renewed_certificate_is_served_without_a_restart(start_daemon, pki, tmp_path):
    """cert-manager renews the Secret; the kubelet swaps the mounted files at once (a `..data`
    symlink to a new folder). ovid re-reads them (--reload-interval) and new connections get
    the new certificate, here one from another CA."""
    (tmp_path / "renewed").mkdir()
    renewed = _make_pki(tmp_path / "renewed", days=3)  # a later notAfter than the first
    mount = tmp_path / "mount"
    for generation, source in (("gen1", pki), ("gen2", renewed)):
        (mount / generation).mkdir(parents=True)
        (mount / generation / "tls.crt").write_bytes((source / "server.pem").read_bytes())
        (mount / generation / "tls.key").write_bytes((source / "server.key").read_bytes())
    (mount / "..data").symlink_to("gen1")
    for name in ("tls.crt", "tls.key"):
        (mount / name).symlink_to(f"..data/{name}")
    daemon = start_daemon(f"--tls-cert={mount / 'tls.crt'}", f"--tls-key={mount / 'tls.key'}",
                          "--reload-interval=1s", "--health-address=127.0.0.1:0", ready=False)
    health_port = daemon.wait_for_log(r"health listening .*\bport=(\d+)", 60)
    daemon.wait_ready(address=f"127.0.0.1:{health_port}")
    # The test certificates live two days: the start warns that this one expires soon.
    assert re.search(r'WARN tls certificate subject="/CN=ovid-server" .*reload_every=1s '
                     r'warning="expires within 7 days"', daemon.log()), daemon.log()

    def served_by(ca):
        with ovid_client.OvidClient(daemon.address, tls_ca=str(ca), timeout=5) as client:
            try:
                return client.model().config.layers == 3
            except ovid_client.OvidError as err:
                assert err.code == grpc.StatusCode.UNAVAILABLE, err.message
                return False

    assert served_by(pki / "ca.pem") and not served_by(renewed / "ca.pem")
    assert daemon.metric(EXPIRY) == _not_after(pki / "server.pem")
    (mount / "..data_tmp").symlink_to("gen2")
    os.replace(mount / "..data_tmp", mount / "..data")  # the kubelet's atomic swap
    wait_for("the renewed certificate served", lambda: served_by(renewed / "ca.pem"), timeout=15)
    assert not served_by(pki / "ca.pem")
    assert daemon.proc.poll() is None
    assert "Invalid private key" not in daemon.log()
    # gRPC reloads silently; ovid's own look at the files says what it will have loaded.
    wait_for("the renewal logged", lambda: "tls certificate changed" in daemon.log(), timeout=15)
    sha = re.findall(r"sha256=([0-9a-f]{16})", daemon.log())
    assert len(sha) == 2 and sha[0] != sha[1], daemon.log()
    # The expiry gauge follows the renewal, to the second (a day later than the first one's).
    assert _not_after(renewed / "server.pem") > _not_after(pki / "server.pem")
    assert daemon.metric(EXPIRY) == _not_after(renewed / "server.pem")
    # A pair that does not match (a key from elsewhere) is said once, not at every check.
    (mount / "gen3").mkdir()
    (mount / "gen3" / "tls.crt").write_bytes((renewed / "server.pem").read_bytes())
    (mount / "gen3" / "tls.key").write_bytes((pki / "client.key").read_bytes())
    (mount / "..data_tmp").symlink_to("gen3")
    os.replace(mount / "..data_tmp", mount / "..data")
    wait_for("the bad pair logged", lambda: "tls files do not load" in daemon.log(), timeout=15)
    time.sleep(2.5)
    assert daemon.log().count("tls files do not load") == 1, daemon.log()
    assert "is not the key of the certificate" in daemon.log()
    # Put right (back to the renewed pair): said too.
    (mount / "..data_tmp").symlink_to("gen2")
    os.replace(mount / "..data_tmp", mount / "..data")
    wait_for("the recovery logged", lambda: "tls files load again" in daemon.log(), timeout=15)
    assert served_by(renewed / "ca.pem")


def test_tls_serves_the_api_and_health_stays_plaintext_on_its_own_port(start_daemon, pki):
    daemon = start_daemon(f"--tls-cert={pki / 'server.pem'}", f"--tls-key={pki / 'server.key'}",
                          "--health-address=127.0.0.1:0", ready=False)
    health_port = daemon.wait_for_log(r"health listening .*\bport=(\d+)", 60)
    daemon.wait_ready(address=f"127.0.0.1:{health_port}")
    with ovid_client.OvidClient(daemon.address, tls_ca=str(pki / "ca.pem")) as client:
        assert client.generate(make_request(client, steps=1)).final.parameters.steps == 1
    with ovid_client.OvidClient(daemon.address) as plaintext:
        with pytest.raises(ovid_client.OvidError) as err:
            plaintext.model()
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
    # The plaintext probe port serves health only: no reflection describing the API to whoever
    # reaches it (gRPC's global reflection plugin used to add it to every server).
    with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as err:
            next(stub.ServerReflectionInfo(iter([request]), timeout=10))
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _rss_bytes(daemon):
    with open(f"/proc/{daemon.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _half_sent_uploads(daemon, calls, message_bytes, **kwargs):
    """Half-sent Generate requests without a token: (the HalfSentCalls, the daemon's RSS
    growth while they are held open)."""
    before = _rss_bytes(daemon)
    with HalfSentCalls(daemon.address, f"/{SERVICE}/Generate", calls, message_bytes,
                       **kwargs) as uploads:
        uploads.wait_until_stuck()
        grown = _rss_bytes(daemon) - before
    return uploads, grown


def test_over_tls_a_call_without_a_token_ends_before_its_message_is_read(start_daemon, pki,
                                                                            tmp_path):
    """gRPC reads a call's whole request message before a handler sees it. Over TLS the token is
    checked while the headers arrive, so a client without one cannot make the daemon buffer
    uploads it never finishes. Plaintext has no such hook in gRPC, and the same uploads are held
    in memory there: why the README puts TLS or a NetworkPolicy in front of tokens."""
    token_file = tmp_path / "token"
    token_file.write_text("t0ken-e2e\n")
    calls, size = 16, 4 << 20  # 64 MiB announced, never finished
    tls = start_daemon(f"--auth-token-file={token_file}", f"--tls-cert={pki / 'server.pem'}",
                       f"--tls-key={pki / 'server.key'}", "--health-address=127.0.0.1:0",
                       ready=False)
    health_port = tls.wait_for_log(r"health listening .*\bport=(\d+)", 60)
    tls.wait_ready(address=f"127.0.0.1:{health_port}")
    uploads, grown = _half_sent_uploads(tls, calls, size, tls_ca=pki / "ca.pem")
    assert len(uploads.ended) == calls, (uploads.ended, uploads.sent)
    # What flow control let through before the refusals arrived, then dropped by the daemon.
    assert uploads.sent < calls * size // 8, uploads.sent
    assert grown < 16 << 20, grown
    # Refused as the handlers refuse: logged (without a peer address: gRPC gives none to the
    # check) and counted per method; health needs no token, and token holders are served.
    assert tls.metric("ovid_grpc_requests_total", method="Generate",
                      code="UNAUTHENTICATED") == calls
    assert 'error="missing \\"authorization: Bearer <token>\\" metadata' in tls.log(), tls.log()
    with ovid_client.OvidClient(tls.address, tls_ca=str(pki / "ca.pem")) as anonymous:
        assert anonymous.health(SERVICE) == "SERVING"
        with pytest.raises(ovid_client.OvidError) as err:
            anonymous.get_job("job-0")
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert re.search(r"request refused method=GetJob code=UNAUTHENTICATED", tls.log()), tls.log()
    # A method the service lacks is gRPC's UNIMPLEMENTED, as over plaintext: not counted, and
    # its client-chosen name never logged.
    credentials = grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes())
    with grpc.secure_channel(tls.address, credentials) as channel:
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary(f"/{SERVICE}/NoSuchMethod")(b"", timeout=10)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "NoSuchMethod" not in tls.log()
    assert 'method="other"' not in tls.scrape()
    with ovid_client.OvidClient(tls.address, token="t0ken-e2e",
                                tls_ca=str(pki / "ca.pem")) as client:
        assert client.generate(make_request(client, steps=1)).final.parameters.steps == 1

    plain = start_daemon(f"--auth-token-file={token_file}")
    uploads, grown = _half_sent_uploads(plain, calls, size)
    assert not uploads.ended and uploads.sent > calls * size * 3 // 4, uploads.sent
    assert grown > 32 << 20, grown


@pytest.mark.parametrize("reload_interval", ["1m", "0"])  # gRPC's file watcher, or read once
def test_mutual_tls_requires_a_client_certificate(start_daemon, pki, reload_interval, tmp_path):
    daemon = start_daemon(f"--tls-cert={pki / 'server.pem'}", f"--tls-key={pki / 'server.key'}",
                          f"--tls-client-ca={pki / 'ca.pem'}", "--health-address=127.0.0.1:0",
                          f"--reload-interval={reload_interval}", ready=False)
    health_port = daemon.wait_for_log(r"health listening .*\bport=(\d+)", 60)
    daemon.wait_ready(address=f"127.0.0.1:{health_port}")
    with ovid_client.OvidClient(daemon.address, tls_ca=str(pki / "ca.pem"),
                                tls_cert=str(pki / "client.pem"),
                                tls_key=str(pki / "client.key")) as client:
        assert client.model().config.layers == 3
    assert f"reload_every={'never' if reload_interval == '0' else '1m'}" in daemon.log()
    assert "client_ca_certificates=1" in daemon.log()
    with ovid_client.OvidClient(daemon.address, tls_ca=str(pki / "ca.pem")) as anonymous:
        with pytest.raises(ovid_client.OvidError) as err:
            anonymous.model()
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
    # A certificate the client CA did not sign is refused like none at all.
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
             "/CN=stranger", "-keyout", "stranger.key", "-out", "stranger.pem", cwd=tmp_path)
    with ovid_client.OvidClient(daemon.address, tls_ca=str(pki / "ca.pem"),
                                tls_cert=str(tmp_path / "stranger.pem"),
                                tls_key=str(tmp_path / "stranger.key")) as stranger:
        with pytest.raises(ovid_client.OvidError) as err:
            stranger.model()
        assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_json_logs_stay_json_when_peers_make_the_libraries_log(start_daemon, pki):
    # A plaintext client on a TLS port makes gRPC log a failed handshake, and a request with
    # invalid UTF-8 in a string field makes protobuf log its parse error: both went to stderr as
    # plain text between the JSON lines, and any peer can cause them.
    daemon = start_daemon(f"--tls-cert={pki / 'server.pem'}", f"--tls-key={pki / 'server.key'}",
                          "--health-address=127.0.0.1:0", "--log-format=json", ready=False)
    health_port = daemon.wait_for_log(r'"msg":"health listening".*"port":(\d+)', 60)
    daemon.wait_ready(address=f"127.0.0.1:{health_port}")
    with ovid_client.OvidClient(daemon.address) as plaintext:
        with pytest.raises(ovid_client.OvidError):
            plaintext.model()
    with ovid_client.OvidClient(daemon.address, tls_ca=str(pki / "ca.pem")) as client:
        good = make_request(client, steps=1)
    good.conditioning.prompt = "cafe"
    raw = good.SerializeToString().replace(b"cafe", b"caf\xe9")
    channel = grpc.secure_channel(daemon.address, grpc.ssl_channel_credentials(
        (pki / "ca.pem").read_bytes()))
    with channel:
        call = channel.unary_stream("/ovid.v1.Generation/Generate",
                                    request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError):
            list(call(raw, timeout=10))
    time.sleep(0.5)
    lines = [line for line in daemon.log().splitlines() if line.strip()]
    for line in lines:
        json.loads(line)
    assert any('"source":"grpc"' in line for line in lines), "\n".join(lines)
    assert any('"source":"protobuf"' in line for line in lines), "\n".join(lines)


def test_bad_security_files_stop_the_start_naming_them(pki, tmp_path):
    """A key that does not match the certificate, a token file no client could send and an empty
    security flag exit 2 before the model loads, each with a message that points at the flag."""
    def run(*flags):
        return subprocess.run([str(OVID), "--model=never-loaded.gguf", "--listen=127.0.0.1:0",
                               "--metrics-listen=127.0.0.1:0", "--device=cpu", *flags],
                              capture_output=True, text=True, timeout=60)
    mismatched = run(f"--tls-cert={pki / 'server.pem'}", f"--tls-key={pki / 'client.key'}")
    assert mismatched.returncode == 2, mismatched.stderr
    assert "bad configuration" in mismatched.stderr, mismatched.stderr
    assert f"--tls-key: {pki / 'client.key'} is not the key of the certificate" in mismatched.stderr
    assert "never-loaded.gguf" not in mismatched.stderr  # it stopped before the load
    # A chain whose second certificate is damaged: named, not a bare "cannot listen".
    pem = (pki / "server.pem").read_text()
    body = pem.splitlines()
    damaged = body[:len(body) // 2] + body[-1:]  # its DER cut in half, the PEM frame intact
    (tmp_path / "chain.pem").write_text(pem + "\n".join(damaged) + "\n")
    chain = run(f"--tls-cert={tmp_path / 'chain.pem'}", f"--tls-key={pki / 'server.key'}")
    assert chain.returncode == 2, chain.stderr
    assert f"{tmp_path / 'chain.pem'} certificate 2 cannot be parsed as X.509" in chain.stderr
    no_cert = run(f"--tls-cert={pki / 'server.key'}", f"--tls-key={pki / 'server.key'}")
    assert no_cert.returncode == 2 and "holds no PEM certificate" in no_cert.stderr, no_cert.stderr
    (tmp_path / "locked.key").write_bytes(subprocess.run(
        ["openssl", "pkey", "-in", pki / "server.key", "-aes256", "-passout", "pass:pw"],
        check=True, capture_output=True).stdout)
    locked = run(f"--tls-cert={pki / 'server.pem'}", f"--tls-key={tmp_path / 'locked.key'}")
    assert locked.returncode == 2 and "unencrypted PEM key" in locked.stderr, locked.stderr
    token = tmp_path / "token"
    token.write_bytes(b"\xef\xbb\xbfs3cret\n")  # a BOM, as some editors write
    bom = run(f"--auth-token-file={token}")
    assert bom.returncode == 2, bom.stderr
    assert "outside printable ASCII" in bom.stderr and "s3cret" not in bom.stderr
    empty = run("--auth-token-file=")
    assert empty.returncode == 2 and "--auth-token-file: is empty" in empty.stderr, empty.stderr
    faults = run("--fault-step-delay-ms=5", f"--auth-token-file={token}")
    assert "TEST ONLY fault hooks are on" in faults.stderr and "step_delay_ms=5" in faults.stderr


def test_tokens_over_plaintext_beyond_loopback_are_warned_about(tmp_path):
    """A bearer token on a plaintext port that the network can reach is readable on the wire:
    the start says so (and carries on: a mesh may encrypt); on loopback or with TLS it is quiet.
    The model never loads, so each run ends at the load, after the warning."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    def run(listen):
        return subprocess.run([str(OVID), "--model=never-loaded.gguf", f"--listen={listen}",
                               "--metrics-listen=127.0.0.1:0", "--device=cpu",
                               f"--auth-token-file={token}"],
                              capture_output=True, text=True, timeout=60)
    exposed = run("0.0.0.0:0")
    assert "bearer tokens will cross the network in plaintext" in exposed.stderr, exposed.stderr
    assert "--tls-cert" in exposed.stderr and "s3cret" not in exposed.stderr
    local = run("127.0.0.1:0")
    assert "never-loaded.gguf" in local.stderr, local.stderr  # it got as far as the load
    assert "cross the network in plaintext" not in local.stderr, local.stderr
    # Either way a 6-character token is named as guessable, without being shown.
    for started in (exposed, local):
        assert "WARN guessable bearer tokens short_tokens=1 " in started.stderr, started.stderr
        assert "s3cret" not in started.stderr



def test_core_dumps_are_off_unless_asked_for(start_daemon):
    """A core of the daemon would hold its tokens, TLS key and the jobs kept: by default it
    leaves none (core limit 0, not dumpable, so /proc/PID is root's), and says so when it
    listens; --core-dumps=on keeps what the node allows (here: the test's own limit, raised to
    its hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    try:
        off = start_daemon(ready=False)
        on = start_daemon("--core-dumps=on", ready=False)
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
    assert re.search(r"INFO listening .*\bcore_dumps=off\b", off.log()), off.log()
    assert re.search(r"INFO listening .*\bcore_dumps={}\b".format("on" if hard else "off"),
                     on.log()), on.log()
    with open(f"/proc/{off.proc.pid}/limits") as limits:
        assert re.search(r"^Max core file size\s+0\s+0\s", limits.read(), re.M)
    assert os.stat(f"/proc/{off.proc.pid}").st_uid == 0
    assert os.stat(f"/proc/{on.proc.pid}").st_uid == os.geteuid()
