"""Chunked request bodies are read (bounded by API_MAX_BODY_BYTES) under a real gunicorn.

WSGI gives no CONTENT_LENGTH for `Transfer-Encoding: chunked`; Django alone reads such a
body as empty. A signal sent chunked must be stored, and a chunked body over the limit
must get the same 413 as one with a Content-Length.
"""

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from config.chunked_bodies import ChunkedBodies

ROOT = Path(__file__).resolve().parent.parent


def chunked(body: bytes, size: int = 4096):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def captured_environ(environ):
    seen = {}

    def app(environ, start_response):
        seen.update(environ, body=environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b""]

    status = []
    ChunkedBodies(app)(environ, lambda s, h: status.append(s))
    return status[0], seen


def test_a_terminated_chunked_body_gets_its_length():
    status, seen = captured_environ(
        {
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(b'{"a": 1}'),
            "wsgi.input_terminated": True,
        }
    )
    assert status == "200 OK"
    assert seen["CONTENT_LENGTH"] == "8" and seen["body"] == b'{"a": 1}'


def test_a_chunked_body_is_read_only_to_one_byte_past_the_limit(settings):
    settings.API_MAX_BODY_BYTES = 10
    _, seen = captured_environ(
        {
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(b"x" * 1000),
            "wsgi.input_terminated": True,
        }
    )
    assert seen["CONTENT_LENGTH"] == "11"  # over the limit: the parser answers 413


def test_a_server_that_does_not_terminate_the_input_answers_411():
    status, seen = captured_environ(
        {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(b"{}")}
    )
    assert status.startswith("411") and not seen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """gunicorn on a local port, on its own SQLite file, with an agent and its key."""
    folder = tmp_path_factory.mktemp("gunicorn")
    unset = ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "CELERY_DATA_DIR": str(folder / "celery"),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout

    manage("migrate", "-v0")
    key = manage(
        "shell",
        "--no-imports",
        "-c",
        "from agents.models import Agent, AgentAPIKey; "
        "agent = Agent.objects.create(external_id='chunky', name='Chunky'); "
        "print(AgentAPIKey.objects.create_key(name='t', agent=agent)[1])",
    ).split()[-1]
    port = free_port()
    log = folder / "gunicorn.log"
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("gunicorn did not start: " + log.read_text()[-2000:])
        yield port, key
    finally:
        server.terminate()
        server.wait(timeout=20)


def post_chunked(port: int, key: str, body: bytes):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    # A body larger than the socket buffers is sent from a thread: the server answers
    # 413 before it has read it all, and the reply is read while the rest is being sent.
    failed = []

    def send():
        try:
            connection.request(
                "POST", "/api/v1/signals", body=chunked(body), headers=headers, encode_chunked=True
            )
        except OSError as exc:  # the server closed after answering; the reply says why
            failed.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    sender.join(timeout=0.5 if len(body) > 1_000_000 else 30)
    response = connection.getresponse()
    reply = response.status, json.loads(response.read())
    sender.join(timeout=30)
    connection.close()
    return reply


def test_a_chunked_signal_is_stored_under_gunicorn(gunicorn):
    port, key = gunicorn
    signal = {"event_name": "document_processed", "customer_id": "cus_1", "idempotency_key": "k1"}
    status, body = post_chunked(port, key, json.dumps(signal).encode())
    assert status == 201, body
    assert body["event_name"] == "document_processed" and body["customer_id"] == "cus_1"


def test_a_10_mb_chunked_body_gets_413_under_gunicorn(gunicorn):
    port, key = gunicorn
    padding = "x" * (10 * 1024 * 1024)
    body = json.dumps({"event_name": "e", "customer_id": "c", "data": {"pad": padding}})
    status, reply = post_chunked(port, key, body.encode())
    assert status == 413, reply
    assert "too large" in reply["detail"]
