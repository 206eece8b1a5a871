"""The HTTP layer: routing, JSON errors for every failure, TLS."""

import subprocess

import pytest
import requests

from esl_connector.api.server import ApiError, HttpApi, HttpServer, Route


def ok(request, ctx, name):
    return {"hello": name, "ctx": ctx}


def refuse(request, ctx):
    raise ApiError(409, "extension_busy", "extension 101 is already in a call")


def crash(request, ctx):
    raise RuntimeError("secret internals")


ROUTES = [Route("/hello/<name>", ok), Route("/busy", refuse, ("GET", "POST")), Route("/crash", crash)]


@pytest.fixture
def server():
    srv = HttpServer(HttpApi("context", ROUTES)).start()
    yield srv
    srv.stop()


def test_handler_result_is_json(server):
    r = requests.get(f"{server.url}/hello/Nguy%E1%BB%85n")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json() == {"hello": "Nguyễn", "ctx": "context"}


@pytest.mark.parametrize("method,path,status,code", [
    ("POST", "/busy", 409, "extension_busy"),
    ("GET", "/nowhere", 404, "not_found"),
    ("DELETE", "/busy", 405, "method_not_allowed"),
    ("GET", "/crash", 500, "internal_error"),
])
def test_every_error_is_the_json_error_shape(server, method, path, status, code):
    r = requests.request(method, server.url + path)
    assert r.status_code == status
    body = r.json()
    assert set(body) == {"status", "code", "message"} and body["status"] == "error" and body["code"] == code
    assert "secret internals" not in r.text


def test_oversized_body_is_refused(server):
    r = requests.post(f"{server.url}/busy", data=b"x" * 200_000)
    assert r.status_code == 413 and r.json()["status"] == "error"


def test_tls(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = HttpServer(HttpApi(None, ROUTES), certfile=str(cert), keyfile=str(key)).start()
    try:
        assert srv.url.startswith("https://")
        r = requests.get(f"{srv.url}/hello/tls", verify=str(cert))
        assert r.json()["hello"] == "tls"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{srv.url}/hello/tls")  # not trusted by default
    finally:
        srv.stop()
