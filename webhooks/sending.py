"""One POST of a webhook, bounded in total time, and the text of what came back.

httpx's timeouts apply to each connect, write and read: a receiver that drips a byte
every few seconds never trips them and could hold an attempt for ever, past the claim's
STALE_CLAIM, so that a second worker sends the same attempt alongside. Here every socket
operation of an attempt gets at most what is left of one deadline (the attempt's
timeout from its start), so the whole attempt, TLS handshake and the answer included,
ends by then with a timeout.
"""

import re
import time

import httpcore
import httpx

from webhooks.targets import TargetError, target_resolve

RESPONSE_EXCERPT_BYTES = 2048
# PostgreSQL text holds neither NUL nor a lone surrogate (it cannot be UTF-8 encoded).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_storable(text: str) -> str:
    """The text without NUL characters and lone surrogates, so a database accepts it."""
    return UNSTORABLE.sub("", text)


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose reads, writes and TLS handshake share one deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self._stream = stream
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        return time_left(self._deadline, timeout, error)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        left = self._left(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, left), self._deadline
        )

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, each operation given at most what is left of `deadline`."""

    def __init__(self, deadline: float):
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        left = time_left(self._deadline, timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, left, local_address, socket_options)
        return DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("webhooks are never sent over a unix socket")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def time_left(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    """The smaller of `timeout` and the time left before `deadline`; `error` if none is."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the attempt's total time is over")
    return left if timeout is None else min(timeout, left)


def deadline_transport(deadline: float) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no total timeout and no setting for httpcore's network backend: its
    # connection pool is replaced by one using the deadline backend (a test with a
    # dripping receiver fails if a new httpx stops using `_pool`).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=DeadlineBackend(deadline),
    )
    return transport


def post(*, url: str, body: bytes, headers: dict, timeout: float, target=None) -> tuple:
    """One POST, all of it within `timeout` seconds: (status code, response excerpt).
    Reads at most RESPONSE_EXCERPT_BYTES of the answer; never follows redirects; ignores
    proxy settings (the checked address is the one connected to)."""
    deadline = time.monotonic() + timeout
    target = target or target_resolve(url)
    if target.host_header:
        headers = {**headers, "Host": target.host_header}
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else None
    with (
        httpx.Client(
            transport=deadline_transport(deadline),
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
        ) as client,
        client.stream(
            "POST", target.url, content=body, headers=headers, extensions=extensions
        ) as response,
    ):
        excerpt = b""
        for chunk in response.iter_bytes():
            excerpt += chunk
            if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
                break
    text = excerpt[:RESPONSE_EXCERPT_BYTES].decode("utf-8", errors="replace")
    return response.status_code, text_storable(text)


def error_text(exc: Exception, timeout: float) -> str:
    """What an attempt's log says of a failure to get an answer."""
    if isinstance(exc, TargetError):
        text = f"Refused: {exc}"
    elif isinstance(exc, httpx.TimeoutException):
        text = f"Timeout: no answer within {timeout:g} s ({type(exc).__name__})."
    elif isinstance(exc, httpx.ConnectError):
        text = f"Could not connect: {exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text_storable(text)
