"""A real HTTP receiver on 127.0.0.1 for the webhook tests, an independent signature
check (the receiver's side, written from the documented scheme, not from webhooks/), and
a world with an endpoint subscribed to what it asks."""

import hashlib
import hmac
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from webhooks.models import Endpoint, secret_new


def signature_valid(secret: str, header: str, body: bytes) -> bool:
    """The receiver's check: t and v1 from the header, HMAC-SHA256 over b"t." + body."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


class Inbox:
    """What the receiver got: one (headers, raw body) per request. `answers` are the
    status codes it gives, in order (the last one repeats)."""

    def __init__(self, answers=(200,), body=b"ok"):
        self.answers = list(answers)
        self.body = body
        self.requests: list[tuple[dict, bytes]] = []
        self.seen_ids: set[str] = set()
        self.processed: list[str] = []

    def answer(self) -> int:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


@contextmanager
def receiver(answers=(200,), body=b"ok"):
    """Yields (url, inbox). A 2xx answer is "processed" once per Webhook-Id: the
    receiver's dedupe, as docs/webhooks.md tells receivers to do."""
    inbox = Inbox(answers, body)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            inbox.requests.append((dict(self.headers), raw))
            status = inbox.answer()
            if 200 <= status < 300 and self.headers["Webhook-Id"] not in inbox.seen_ids:
                inbox.seen_ids.add(self.headers["Webhook-Id"])
                inbox.processed.append(self.headers["Webhook-Id"])
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", str(len(inbox.body)))
            self.end_headers()
            self.wfile.write(inbox.body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/billing", inbox
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_socket():
    """A URL whose server accepts the connection and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hangs"
    finally:
        sock.close()


@contextmanager
def dripping_receiver(*, head: bytes = b"", drip: bytes, every: float = 0.15):
    """A URL whose server reads the request, answers `head` at once, then `drip` one
    byte every `every` seconds: each read gets a byte well within any per-read timeout,
    so only a total deadline ends the attempt early."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:  # the accept timed out, or the listener is closed
                continue
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(head)
                    for byte in drip:
                        if stop.wait(every):
                            break
                        conn.sendall(bytes([byte]))
                except OSError:  # the client gave up: the point of the test
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/drips"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def endpoint(url: str, types=("*",), **fields) -> Endpoint:
    return Endpoint.objects.create(url=url, event_types=list(types), secret=secret_new(), **fields)
