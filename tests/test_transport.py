"""LeanTransport against scripted HTTP servers on 127.0.0.1 (asyncio and trio)."""

from __future__ import annotations

import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest
import trustme
from anyio.streams.tls import TLSStream

from alertkit.notify.transport import LeanTransport, default_http_client

pytestmark = pytest.mark.anyio

Handler = Callable[[anyio.abc.ByteStream, "Server"], Awaitable[None]]


class Server:
    """Counts connections and keeps what it received."""

    def __init__(self) -> None:
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.requests: list[bytes] = []


async def read_request(stream: anyio.abc.ByteStream, buffer: bytearray) -> bytes | None:
    """One request (head + Content-Length body) from ``buffer``/``stream``; None at EOF."""
    while b"\r\n\r\n" not in buffer:
        try:
            buffer += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None
    end = buffer.index(b"\r\n\r\n")
    length = 0
    for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buffer) < end + 4 + length:
        buffer += await stream.receive()
    request = bytes(buffer[: end + 4 + length])
    del buffer[: end + 4 + length]
    return request


def reply(body: bytes = b"ok", status: str = "200 OK", extra: bytes = b"") -> bytes:
    return (b"HTTP/1.1 " + status.encode() + b"\r\ncontent-length: %d\r\n" % len(body)
            + extra + b"\r\n" + body)


async def keep_alive(stream: anyio.abc.ByteStream, server: Server) -> None:
    buffer = bytearray()
    while (request := await read_request(stream, buffer)) is not None:
        server.requests.append(request)
        await stream.send(reply())


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None
                ) -> AsyncIterator[tuple[str, Server]]:
    server = Server()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def one(stream: anyio.abc.ByteStream) -> None:
        server.connections += 1
        server.open_now += 1
        server.most_open = max(server.most_open, server.open_now)
        try:
            async with stream:  # closes the socket even if the TLS handshake fails
                if tls is not None:
                    stream = await TLSStream.wrap(stream, ssl_context=tls, server_side=True,
                                                  standard_compatible=False)
                await handler(stream, server)
        except (anyio.BrokenResourceError, anyio.EndOfStream, ssl.SSLError, OSError):
            pass
        finally:
            server.open_now -= 1

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, one)
        scheme = "https" if tls is not None else "http"
        try:
            yield f"{scheme}://127.0.0.1:{port}", server
        finally:
            tg.cancel_scope.cancel()


def client(**options: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=LeanTransport(**options), timeout=5.0)  # type: ignore[arg-type]


async def test_keeps_one_connection_alive_and_sends_the_exact_request() -> None:
    async with serve(keep_alive) as (url, server), client() as http:
        for i in range(20):
            response = await http.post(f"{url}/hook?x={i}", content=b'{"a":1}',
                                       headers={"content-type": "application/json"})
            assert response.status_code == 200
            assert response.text == "ok"
            assert response.http_version == "HTTP/1.1"
        assert server.connections == 1
        head, _, body = server.requests[3].partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /hook?x=3 HTTP/1.1"
        headers = dict(line.split(b": ", 1) for line in lines[1:])
        assert headers[b"Host"] == url.split("//")[1].encode()
        assert headers[b"Content-Length"] == b"7"
        assert headers[b"content-type"] == b"application/json"
        assert body == b'{"a":1}'


async def test_concurrent_requests_open_at_most_max_connections() -> None:
    async def slow(stream: anyio.abc.ByteStream, server: Server) -> None:
        buffer = bytearray()
        while await read_request(stream, buffer) is not None:
            await anyio.sleep(0.01)
            await stream.send(reply())

    async with serve(slow) as (url, server), client(max_connections=3) as http:
        async def post() -> None:
            assert (await http.post(url, content=b"x")).status_code == 200

        async with anyio.create_task_group() as tg:
            for _ in range(30):
                tg.start_soon(post)
        assert server.most_open <= 3
        assert server.connections == 3


async def test_chunked_response_with_trailers() -> None:
    async def chunked(stream: anyio.abc.ByteStream, server: Server) -> None:
        buffer = bytearray()
        while await read_request(stream, buffer) is not None:
            await stream.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                              b"5;ext=1\r\nhello\r\n")
            await stream.send(b"6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n")

    async with serve(chunked) as (url, server), client() as http:
        assert (await http.post(url, content=b"a")).text == "hello world"
        assert (await http.post(url, content=b"b")).text == "hello world"
        assert server.connections == 1


async def test_body_delimited_by_close_and_connection_close() -> None:
    async def closing(stream: anyio.abc.ByteStream, server: Server) -> None:
        await read_request(stream, bytearray())
        if server.connections % 2:
            await stream.send(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
        else:
            await stream.send(reply(b"bye", extra=b"connection: close\r\n"))

    async with serve(closing) as (url, server), client() as http:
        assert (await http.post(url, content=b"1")).text == "until the end"
        assert (await http.post(url, content=b"2")).text == "bye"
        assert (await http.post(url, content=b"3")).text == "until the end"
        assert server.connections == 3


async def test_an_idle_connection_closed_by_the_server_is_replaced() -> None:
    async def one_request_per_connection(stream: anyio.abc.ByteStream, server: Server) -> None:
        await read_request(stream, bytearray())
        await stream.send(reply())  # claims keep-alive, then closes anyway

    async with serve(one_request_per_connection) as (url, server), client() as http:
        for _ in range(5):
            await anyio.sleep(0.01)
            assert (await http.post(url, content=b"x")).status_code == 200
        assert server.connections == 5


async def test_interim_responses_are_skipped_and_bodiless_statuses_read_nothing() -> None:
    async def interim(stream: anyio.abc.ByteStream, server: Server) -> None:
        buffer = bytearray()
        while (request := await read_request(stream, buffer)) is not None:
            if request.startswith(b"HEAD"):
                await stream.send(b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n")
            else:
                await stream.send(b"HTTP/1.1 100 Continue\r\n\r\n"
                                  b"HTTP/1.1 204 No Content\r\n\r\n")

    async with serve(interim) as (url, server), client() as http:
        response = await http.post(url, content=b"x")
        assert response.status_code == 204 and response.content == b""
        head = await http.head(url)
        assert head.status_code == 200 and head.content == b""
        assert (await http.post(url, content=b"y")).status_code == 204
        assert server.connections == 1


async def test_gzip_bodies_are_decoded_by_httpx() -> None:
    async def gz(stream: anyio.abc.ByteStream, server: Server) -> None:
        await read_request(stream, bytearray())
        await stream.send(reply(gzip.compress(b'{"ok":true}'), extra=b"content-encoding: gzip\r\n"))

    async with serve(gz) as (url, _), client() as http:
        assert (await http.post(url, content=b"x")).json() == {"ok": True}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SMTP 220 hello\r\n\r\n", "did not answer with HTTP/1.x"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "bad status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: -4\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", "ended early"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n", "too large"),
        (b"HTTP/1.1 200 OK\r\ncontent-le", "without a complete response"),
        (b"HTTP/1.1 200 OK\r\n" + b"x: y\r\n" * 20_000, "head is too long"),
    ],
)
async def test_malformed_answers_are_protocol_errors(answer: bytes, message: str) -> None:
    async def bad(stream: anyio.abc.ByteStream, server: Server) -> None:
        await read_request(stream, bytearray())
        await stream.send(answer)

    async with serve(bad) as (url, _), client(max_response_bytes=1000) as http:
        with pytest.raises(httpx.RemoteProtocolError, match=message):
            await http.post(url, content=b"x")


async def test_timeouts_and_refused_connections_are_httpx_errors() -> None:
    async def silent(stream: anyio.abc.ByteStream, server: Server) -> None:
        await read_request(stream, bytearray())
        await anyio.sleep(10)

    async with serve(silent) as (url, _), client(max_connections=1) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(url, content=b"x", timeout=0.1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: http.post(url, content=b"x", timeout=1.0))
            await anyio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout):
                await http.post(url, content=b"y", timeout=httpx.Timeout(5.0, pool=0.05))
            tg.cancel_scope.cancel()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    async with client() as http:
        with pytest.raises(httpx.ConnectError, match="cannot connect"):
            await http.post(f"http://127.0.0.1:{port}/", content=b"x")


async def test_a_cancelled_request_does_not_poison_the_pool() -> None:
    async def maybe_slow(stream: anyio.abc.ByteStream, server: Server) -> None:
        buffer = bytearray()
        while (request := await read_request(stream, buffer)) is not None:
            if request.endswith(b"slow"):
                await anyio.sleep(0.3)
            await stream.send(reply(request[-4:]))

    async with serve(maybe_slow) as (url, server), client(max_connections=1) as http:
        with anyio.move_on_after(0.05):
            await http.post(url, content=b"slow")
        response = await http.post(url, content=b"fast")
        assert response.text == "fast"  # not the late answer to the cancelled request
        assert server.connections == 2


async def test_https_with_a_custom_ca() -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    async with serve(keep_alive, tls=server_ctx) as (url, server):
        async with client(verify=client_ctx) as http:
            for _ in range(3):
                assert (await http.post(url, content=b"x")).text == "ok"
            assert server.connections == 1
        async with client() as untrusting:
            with pytest.raises(httpx.ConnectError, match="TLS"):
                await untrusting.post(url, content=b"x")


async def test_other_schemes_and_a_closed_transport_are_refused() -> None:
    transport = LeanTransport()
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/"))
    await transport.aclose()
    with pytest.raises(httpx.ConnectError, match="closed"):
        await transport.handle_async_request(httpx.Request("GET", "http://127.0.0.1/"))
    with pytest.raises(ValueError, match="max_connections"):
        LeanTransport(max_connections=0)


async def test_the_default_client_keeps_httpx_transport_behind_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with default_http_client(4) as http:
        assert isinstance(http._transport, LeanTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    async with default_http_client(4) as http:
        assert not isinstance(http._transport, LeanTransport)
