"""TLS and mutual TLS: both clients verify the daemon with --tls-ca / tls_ca and present a client
certificate for mTLS; without one the handshake is refused. Certificates come from the openssl
command line, made fresh per session."""
import shutil
import subprocess

import grpc
import pytest

from conftest import ovidctl
from fake_server import FakeServer
from ovid_client import OvidClient, OvidError

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=ovid test CA", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN=ovid test {name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile",
                f"{name}.ext", cwd=d)
    return d


@pytest.fixture
def mtls_server(pki):
    creds = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes(), require_client_auth=True)
    srv = FakeServer(credentials=creds)
    yield srv
    srv.stop()


def test_python_client_over_mtls(mtls_server, pki):
    with OvidClient(mtls_server.address, tls_ca=pki / "ca.pem", tls_cert=pki / "client.pem",
                    tls_key=pki / "client.key") as client:
        assert client.model().config.variant == "720x720_5s"
        assert client.health() == "SERVING"
    # The server demands a client certificate: a TLS connection without one is refused.
    with OvidClient(mtls_server.address, tls_ca=(pki / "ca.pem").read_bytes(),
                    timeout=5) as client, pytest.raises(OvidError) as err:
        client.model()
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert [m for m, _, _ in mtls_server.fake.calls] == ["GetModel"]


def test_ovidctl_over_mtls(mtls_server, pki, tmp_path):
    tls = ["--tls-ca", pki / "ca.pem", "--tls-cert", pki / "client.pem", "--tls-key",
           pki / "client.key"]
    r = ovidctl("--address", mtls_server.address, *tls, "health")
    assert (r.returncode, r.stdout) == (0, "(server) SERVING\n"), r.stderr
    r = ovidctl("--address", mtls_server.address, *tls, "generate", "--prompt", "x", "--steps", 1,
                "--out-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "job-0001.safetensors").stat().st_size > 0
    r = ovidctl("--address", mtls_server.address, "--timeout", 5, "--tls-ca", pki / "ca.pem",
                "health")
    assert r.returncode == 1 and "UNAVAILABLE" in r.stderr
    # Plaintext to a TLS port fails too.
    r = ovidctl("--address", mtls_server.address, "--timeout", 5, "health")
    assert r.returncode == 1 and "UNAVAILABLE" in r.stderr
