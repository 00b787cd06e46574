"""A lean HTTP/1.1 transport for the shared ``httpx.AsyncClient``.

Notifiers send small requests, many of them, to a few hosts. httpx's default
transport (httpcore) spends most of a webhook delivery's time in its
connection pool and protocol machinery; :class:`LeanTransport` does the same
job in a few hundred lines: a keep-alive pool per origin, a request written
in one piece, the response parsed from one buffer. It speaks HTTP/1.1 only,
over anyio streams (so it runs on asyncio and trio), with TLS from
``httpx.create_ssl_context``. The client API stays httpx's: notifiers and
tests see ordinary ``httpx.Response`` objects and httpx exceptions.

What it does not do: HTTP/2, proxies (the delivery worker keeps httpx's
default transport when proxy environment variables are set), streaming
request or response bodies (bodies are read whole, responses up to
``max_response_bytes``), ``Expect: 100-continue``.
"""

from __future__ import annotations

import contextlib
import math
import ssl
from collections import deque

import anyio
import anyio.abc
import httpx

__all__ = ["LeanTransport", "default_http_client"]

_MAX_HEAD = 64 * 1024
_NO_BODY_STATUS = frozenset({204, 304})


class _Connection:
    __slots__ = ("buffer", "expires", "stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.expires = math.inf

    async def fill(self) -> bool:
        """Read more bytes into the buffer; ``False`` at the end of the stream."""
        try:
            data = await self.stream.receive(65536)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return False
        self.buffer += data
        return True

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            # closing a dead connection: nothing to do
            with contextlib.suppress(OSError, anyio.BrokenResourceError,
                                     anyio.ClosedResourceError):
                await self.stream.aclose()


class _Reused(Exception):
    """A kept-alive connection was found closed before the response began: retry on a new one."""


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    value = request.extensions.get("timeout")
    if isinstance(value, dict):
        return value
    return {"connect": None, "read": None, "write": None, "pool": None}


def _limit(seconds: float | None) -> float:
    return math.inf if seconds is None else seconds


class LeanTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections, up to ``max_connections`` per origin.

    - ``verify``: ``True`` (system and certifi CAs), ``False``, or an
      ``ssl.SSLContext`` for ``https://`` origins;
    - ``keepalive_expiry``: idle connections older than this are closed;
    - ``max_response_bytes``: a longer response body is an error
      (``httpx.RemoteProtocolError``) rather than a memory problem.

    >>> import httpx
    >>> client = httpx.AsyncClient(transport=LeanTransport(max_connections=8))
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 5.0,
        verify: bool | ssl.SSLContext = True,
        max_response_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._max_response = max_response_bytes
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._slots: dict[tuple[str, str, int], anyio.CapacityLimiter] = {}
        self._closed = False

    # -- connections -------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            if isinstance(self._verify, ssl.SSLContext):
                self._ssl = self._verify
            else:
                self._ssl = httpx.create_ssl_context(verify=self._verify)
        return self._ssl

    async def _connect(self, origin: tuple[str, str, int], timeout: float | None
                       ) -> _Connection:
        scheme, host, port = origin
        try:
            with anyio.fail_after(_limit(timeout)):
                if scheme == "https":
                    stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                        host, port, ssl_context=self._ssl_context(), tls_hostname=host,
                        tls_standard_compatible=False,
                    )
                else:
                    stream = await anyio.connect_tcp(host, port)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except ssl.SSLError as exc:
            raise httpx.ConnectError(f"TLS with {host}:{port} failed: {exc.reason}") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {reason}") from None
        return _Connection(stream)

    async def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = anyio.current_time()
        while idle:
            conn = idle.pop()
            if conn.expires > now:
                return conn
            await conn.aclose()
        return None

    # -- requests ----------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise httpx.ConnectError("the transport is closed")
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        timeouts = _timeouts(request)
        body = await request.aread()
        head = self._head(request, body)

        slots = self._slots.get(origin)
        if slots is None:
            slots = self._slots[origin] = anyio.CapacityLimiter(self._max_connections)
        try:
            with anyio.fail_after(_limit(timeouts.get("pool"))):
                await slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no connection became free in time") from None
        try:
            conn = await self._take_idle(origin)
            if conn is not None:
                try:
                    return await self._exchange(conn, origin, request, head, body, timeouts,
                                                reused=True)
                except _Reused:
                    pass  # the server closed the idle connection: one retry on a new one
            conn = await self._connect(origin, timeouts.get("connect"))
            return await self._exchange(conn, origin, request, head, body, timeouts,
                                        reused=False)
        finally:
            slots.release()

    @staticmethod
    def _head(request: httpx.Request, body: bytes) -> bytes:
        lines = [b"%s %s HTTP/1.1" % (request.method.encode(), request.url.raw_path)]
        has_length = False
        for name, value in request.headers.raw:
            lower = name.lower()
            if lower == b"transfer-encoding":
                continue  # the body is sent whole, with its length
            if lower == b"content-length":
                has_length = True
            lines.append(name + b": " + value)
        if not has_length and (body or request.method not in ("GET", "HEAD", "DELETE")):
            lines.append(b"Content-Length: %d" % len(body))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _exchange(
        self,
        conn: _Connection,
        origin: tuple[str, str, int],
        request: httpx.Request,
        head: bytes,
        body: bytes,
        timeouts: dict[str, float | None],
        *,
        reused: bool,
    ) -> httpx.Response:
        done = False
        try:
            try:
                with anyio.fail_after(_limit(timeouts.get("write"))):
                    await conn.stream.send(head + body if len(body) < 65536 else head)
                    if len(body) >= 65536:
                        await conn.stream.send(body)
            except TimeoutError:
                raise httpx.WriteTimeout("sending the request timed out") from None
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                if reused:
                    raise _Reused from None
                raise httpx.WriteError("the connection broke while sending") from None
            try:
                with anyio.fail_after(_limit(timeouts.get("read"))):
                    response, keep = await self._read_response(conn, request, reused=reused)
            except TimeoutError:
                raise httpx.ReadTimeout("waiting for the response timed out") from None
            if keep:
                conn.expires = anyio.current_time() + self._keepalive_expiry
                self._idle.setdefault(origin, deque()).append(conn)
                done = True
            return response
        finally:
            if not done:
                await conn.aclose()

    async def _read_response(
        self, conn: _Connection, request: httpx.Request, *, reused: bool
    ) -> tuple[httpx.Response, bool]:
        while True:
            end = conn.buffer.find(b"\r\n\r\n")
            while end < 0:
                if len(conn.buffer) > _MAX_HEAD:
                    raise httpx.RemoteProtocolError("the response head is too long")
                if not await conn.fill():
                    if reused and not conn.buffer:
                        raise _Reused
                    raise httpx.RemoteProtocolError(
                        "the server closed the connection without a complete response"
                    )
                end = conn.buffer.find(b"\r\n\r\n")
            head = bytes(conn.buffer[:end])
            del conn.buffer[: end + 4]
            status, reason, version, headers = self._parse_head(head)
            if 100 <= status < 200 and status != 101:
                continue  # interim response (100 Continue, 103 Early Hints): read the next
            break
        values: dict[bytes, bytes] = {}
        for name, value in headers:
            lower = name.lower()
            values[lower] = values[lower] + b", " + value if lower in values else value
        connection = values.get(b"connection", b"").lower()
        keep = version == b"HTTP/1.1" and b"close" not in connection
        if request.method == "HEAD" or status in _NO_BODY_STATUS or status == 101:
            content = b""
            keep = keep and status != 101
        elif b"chunked" in values.get(b"transfer-encoding", b"").lower():
            content = await self._read_chunked(conn)
        elif b"content-length" in values:
            try:
                length = int(values[b"content-length"].split(b",")[0])
            except ValueError:
                raise httpx.RemoteProtocolError("the response has a bad Content-Length") from None
            if length < 0:
                raise httpx.RemoteProtocolError("the response has a bad Content-Length")
            if length > self._max_response:
                raise httpx.RemoteProtocolError("the response body is too large")
            while len(conn.buffer) < length:
                if not await conn.fill():
                    raise httpx.RemoteProtocolError("the response body ended early")
            content = bytes(conn.buffer[:length])
            del conn.buffer[:length]
        else:  # delimited by the end of the connection
            while await conn.fill():
                if len(conn.buffer) > self._max_response:
                    raise httpx.RemoteProtocolError("the response body is too large")
            content = bytes(conn.buffer)
            conn.buffer.clear()
            keep = False
        if conn.buffer:
            keep = False  # bytes nobody asked for: don't trust this connection again
        response = httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions={"http_version": version, "reason_phrase": reason},
        )
        return response, keep

    @staticmethod
    def _parse_head(head: bytes) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise httpx.RemoteProtocolError("the server did not answer with HTTP/1.x")
        try:
            status = int(parts[1])
        except ValueError:
            raise httpx.RemoteProtocolError("the response has a bad status line") from None
        if not 100 <= status <= 999:
            raise httpx.RemoteProtocolError("the response has a bad status code")
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                raise httpx.RemoteProtocolError("the response has a malformed header line")
            headers.append((name, value.strip()))
        reason = parts[2] if len(parts) > 2 else b""
        return status, reason, parts[0], headers

    async def _read_chunked(self, conn: _Connection) -> bytes:
        out = bytearray()
        while True:
            end = conn.buffer.find(b"\r\n")
            while end < 0:
                if len(conn.buffer) > _MAX_HEAD or not await conn.fill():
                    raise httpx.RemoteProtocolError("a response chunk header is malformed")
                end = conn.buffer.find(b"\r\n")
            size_text = bytes(conn.buffer[:end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise httpx.RemoteProtocolError("a response chunk size is malformed") from None
            del conn.buffer[: end + 2]
            if size == 0:
                # trailers, then an empty line
                while True:
                    end = conn.buffer.find(b"\r\n")
                    while end < 0:
                        if len(conn.buffer) > _MAX_HEAD or not await conn.fill():
                            raise httpx.RemoteProtocolError("the chunked response ended early")
                        end = conn.buffer.find(b"\r\n")
                    line = bytes(conn.buffer[:end])
                    del conn.buffer[: end + 2]
                    if not line:
                        return bytes(out)
            if len(out) + size > self._max_response:
                raise httpx.RemoteProtocolError("the response body is too large")
            while len(conn.buffer) < size + 2:
                if not await conn.fill():
                    raise httpx.RemoteProtocolError("the chunked response ended early")
            out += conn.buffer[:size]
            if conn.buffer[size:size + 2] != b"\r\n":
                raise httpx.RemoteProtocolError("a response chunk is not followed by CRLF")
            del conn.buffer[: size + 2]

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await conn.aclose()

    def __repr__(self) -> str:
        idle = sum(len(c) for c in self._idle.values())
        return f"LeanTransport(max_connections={self._max_connections}, idle={idle})"


def _proxies_configured() -> bool:
    import urllib.request

    proxies = urllib.request.getproxies()
    return any(key in proxies for key in ("http", "https", "all"))


def default_http_client(max_connections: int = 100, *, timeout: float = 10.0
                        ) -> httpx.AsyncClient:
    """The client the delivery worker shares between notifiers unless given one.

    An ``httpx.AsyncClient`` on :class:`LeanTransport`, redirects not followed
    (a webhook that moved is a configuration error). When proxy environment
    variables (``HTTPS_PROXY``, ``ALL_PROXY``...) are set, httpx's own
    transport is used instead, since it knows how to talk through them.
    """
    limits = httpx.Limits(max_connections=max_connections,
                          max_keepalive_connections=max_connections)
    if _proxies_configured():
        return httpx.AsyncClient(timeout=httpx.Timeout(timeout), limits=limits,
                                 follow_redirects=False)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        transport=LeanTransport(max_connections=max_connections),
        follow_redirects=False,
    )
