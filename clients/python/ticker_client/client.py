"""The reconnecting client: one connection at a time, a local book, seq
checks, and the callback and async-iterator ways to receive updates."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

import websockets.exceptions
from websockets.legacy.client import WebSocketClientProtocol, connect
from websockets.typing import Subprotocol

from .model import (
    HandshakeError,
    ProtocolError,
    Quote,
    ServerError,
    Status,
    StatusKind,
    Update,
    decode_quote,
)

T = TypeVar("T")
#: A callback: a plain function, or a coroutine function (awaited in turn).
Callback = Callable[[T], Awaitable[None] | None]

#: Handshake refusals that retrying would not cure: Client.run raises them.
FATAL_STATUSES = (400, 401, 403, 404)


def backoff(lo: float, hi: float, attempt: int) -> float:
    """A random wait in [0, min(hi, lo·2^attempt)] seconds (full jitter)."""
    d = lo
    for _ in range(attempt):
        if d >= hi:
            break
        d *= 2
    return random.uniform(0, min(d, hi))


class Client:
    """A reconnecting ticker.v1 client.

    It keeps a local book of the latest quote of every subscribed symbol,
    reconnects with exponential backoff and full jitter (from ``min_backoff``
    to ``max_backoff`` seconds, starting over once a connection delivered
    data), subscribes again on every connection, and checks every symbol's
    ``seq``: on a gap it resubscribes the symbol, which brings a fresh
    snapshot. A snapshot with a new ``epoch`` (the stream started again, its
    seqs from 1) drops the whole book and reports ``StatusKind.NEW_EPOCH``.
    Quotes hold ``decimal.Decimal`` values, never floats.

    Two ways to receive, usable together: callbacks (``on_update``,
    ``on_status``, ``on_error``; plain or ``async`` functions, run one at a
    time on the reading loop) with ``await client.run()``, or
    ``async for update in client``.

    ``token`` is sent as ``Authorization: Bearer``; ``deflate`` offers
    permessage-deflate (on by default). A dead connection is found by
    WebSocket pings (``ping_interval``, ``ping_timeout`` seconds).

    ``every`` (seconds, or the protocol's text such as ``"1s"``; whole milliseconds, at most 60, a multiple of the
    server's window) asks for conflated updates: at most one per symbol per
    interval, each the net change since the last, covering the versions
    ``Update.from_seq`` to ``Update.delta.seq``; the client checks that
    ``from_seq`` follows the seq it had.
    """

    def __init__(
        self,
        url: str,
        symbols: Iterable[str] = (),
        *,
        token: str | None = None,
        deflate: bool = True,
        min_backoff: float = 0.25,
        max_backoff: float = 30.0,
        ping_interval: float = 15.0,
        ping_timeout: float = 30.0,
        every: float | str | None = None,
        on_update: Callback[Update] | None = None,
        on_status: Callback[Status] | None = None,
        on_error: Callback[ServerError] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if min_backoff <= 0 or max_backoff < min_backoff:
            raise ValueError("want 0 < min_backoff <= max_backoff")
        self.every = _every_text(every)
        self.url = url
        self.token = token
        self.deflate = deflate
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.on_update, self.on_status, self.on_error = on_update, on_status, on_error
        self.log = logger or logging.getLogger("ticker_client")
        self._symbols: list[str] = list(dict.fromkeys(symbols))
        self._book: dict[str, Quote] = {}
        self._epoch = 0
        self._gaps = 0
        self._next_id = 0
        self._ws: WebSocketClientProtocol | None = None
        self._queues: list[asyncio.Queue[Update]] = []
        self._running = False
        self._closed = asyncio.Event()

    # --- the book -------------------------------------------------------

    def book(self) -> dict[str, Quote]:
        """A copy of the latest quote of every symbol."""
        return dict(self._book)

    def quote(self, symbol: str) -> Quote | None:
        """The latest quote of symbol, or None."""
        return self._book.get(symbol)

    @property
    def epoch(self) -> int:
        """The epoch of the stream the book holds (0: none announced)."""
        return self._epoch

    @property
    def gaps(self) -> int:
        """How many seq gaps the client has seen (and repaired)."""
        return self._gaps

    @property
    def connected(self) -> bool:
        """Whether a connection is up."""
        return self._ws is not None

    @property
    def extensions(self) -> str:
        """The connection's negotiated Sec-WebSocket-Extensions ("" if none)."""
        ws = self._ws
        return "" if ws is None else ws.response_headers.get("Sec-WebSocket-Extensions", "")

    # --- subscriptions --------------------------------------------------

    async def subscribe(self, *symbols: str) -> bool:
        """Adds symbols, now if connected and on every reconnect. Returns
        whether the request went out now (False between connections)."""
        for s in symbols:
            if s not in self._symbols:
                self._symbols.append(s)
        return await self._send("subscribe", symbols)

    async def unsubscribe(self, *symbols: str) -> bool:
        """Removes symbols and drops them from the book."""
        self._symbols = [s for s in self._symbols if s not in symbols]
        for s in symbols:
            self._book.pop(s, None)
        return await self._send("unsubscribe", symbols)

    async def _send(self, op: str, symbols: Iterable[str]) -> bool:
        ws = self._ws
        if ws is None:
            return False
        self._next_id += 1
        req: dict[str, Any] = {"op": op, "id": self._next_id, "symbols": list(symbols)}
        if op == "subscribe" and self.every:
            req["every"] = self.every
        await ws.send(json.dumps(req))
        return True

    # --- running --------------------------------------------------------

    async def run(self) -> None:
        """Connects, and reconnects, until close() or cancellation. A refused
        handshake (401, 403, 404) raises HandshakeError at once, since
        retrying would not help."""
        if self._running:
            raise RuntimeError("ticker client: run() is already running")
        self._running = True
        self._closed.clear()
        attempt = 0
        try:
            while not self._closed.is_set():
                delivered, err = await self._connection()
                if self._closed.is_set():
                    return
                if isinstance(err, HandshakeError) and err.status in FATAL_STATUSES:
                    raise err
                if delivered:
                    attempt = 0
                wait = backoff(self.min_backoff, self.max_backoff, attempt)
                attempt += 1
                self.log.info("ticker client: disconnected (%s); retrying in %.3fs", err, wait)
                await _call(self.on_status, Status(StatusKind.DISCONNECTED, error=err, wait=wait))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), wait)
        finally:
            self._running = False

    async def close(self) -> None:
        """Ends run(): closes the connection and stops reconnecting."""
        self._closed.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    def _connect_url(self) -> str:
        if not self._symbols:
            return self.url
        sep = "&" if "?" in self.url else "?"
        url = self.url + sep + "symbols=" + urllib.parse.quote(",".join(self._symbols), safe="")
        return url + "&every=" + self.every if self.every else url

    async def _connection(self) -> tuple[bool, BaseException]:
        """Runs one connection; reports whether it delivered data, and why it ended."""
        headers = {"Authorization": "Bearer " + self.token} if self.token else {}
        try:
            ws = await connect(
                self._connect_url(),
                extra_headers=headers,
                subprotocols=[Subprotocol("ticker.v1")],
                compression="deflate" if self.deflate else None,
                max_size=64 << 20,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                open_timeout=10,
            )
        except websockets.exceptions.InvalidStatusCode as e:
            return False, HandshakeError(e.status_code)
        except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as e:
            return False, e
        self._ws = ws
        delivered = False
        try:
            if self._closed.is_set():
                return False, ConnectionError("closed")
            self.log.info("ticker client: connected to %s (%d symbols)", self.url, len(self._symbols))
            await _call(self.on_status, Status(StatusKind.CONNECTED))
            reader = _Reader(self)
            async for raw in ws:
                if not isinstance(raw, str):
                    raise ProtocolError("server sent a binary frame")
                delivered = await reader.handle(raw) or delivered
            return delivered, ConnectionError(f"server closed the connection: {ws.close_code} {ws.close_reason}")
        except (websockets.exceptions.ConnectionClosed, ProtocolError, OSError) as e:
            return delivered, e
        finally:
            self._ws = None
            await ws.close()

    # --- the async iterator ---------------------------------------------

    def __aiter__(self) -> AsyncIterator[Update]:
        return self.updates()

    async def updates(self, maxsize: int = 1024) -> AsyncIterator[Update]:
        """Yields every update, in order. If the client is not running, it
        runs for as long as the iteration does. Overflow policy of the
        bounded queue (maxsize): backpressure. The connection stops reading
        until the loop catches up, so a loop that falls behind is resynced
        by the server (a ``resync`` snapshot), and one that stops for good is
        disconnected by it."""
        q: asyncio.Queue[Update] = asyncio.Queue(maxsize)
        self._queues.append(q)
        task = None if self._running else asyncio.create_task(self.run())
        try:
            while True:
                if task is None:
                    yield await q.get()
                    continue
                get = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
                if get in done:
                    yield get.result()
                    continue
                get.cancel()
                while not q.empty():
                    yield q.get_nowait()
                task.result()  # raises what ended run()
                return
        finally:
            self._queues.remove(q)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _emit(self, u: Update) -> None:
        await _call(self.on_update, u)
        for q in self._queues:
            await q.put(u)


def _every_text(every: float | str | None) -> str:
    """``every`` (seconds, or the protocol's text: "1s", "250ms") as the
    server reads it, or "" for none."""
    if every is None:
        return ""
    if isinstance(every, str):
        m = re.fullmatch(r"([0-9]+)(ms|s)", every)
        if m is None:
            raise ValueError(f"every={every!r}: want seconds (1.5) or the protocol's text (\"1s\", \"250ms\")")
        every = int(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    if isinstance(every, bool) or not isinstance(every, (int, float)):
        raise ValueError(f"every={every!r}: want seconds (1.5) or the protocol's text (\"1s\", \"250ms\")")
    ms = round(every * 1000)
    if ms <= 0 or ms > 60000 or abs(ms - every * 1000) > 1e-6:
        raise ValueError(f"every={every!r}: want whole milliseconds, more than 0 and at most 60 seconds")
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


async def _call(cb: Callback[T] | None, arg: T) -> None:
    if cb is None:
        return
    r = cb(arg)
    if inspect.isawaitable(r):
        await r


class _Reader:
    """Applies one connection's messages to the client's book."""

    def __init__(self, c: Client) -> None:
        self.c = c
        self.resyncing: set[str] = set()  # resubscribed after a gap, until their snapshot
        self.fresh: set[str] = set()  # snapshotted (or begun at seq 1) on this connection

    async def handle(self, raw: str) -> bool:
        """Applies one message; reports whether it carried market data."""
        try:
            msg: Any = json.loads(raw, parse_float=Decimal)
        except ValueError as e:
            raise ProtocolError(f"server sent bad JSON: {e}") from None
        if not isinstance(msg, dict):
            raise ProtocolError("server sent a message that is not an object")
        typ = msg.get("type")
        if typ == "subscribed":
            await self.epoch(msg)
            return False
        if typ == "snapshot":
            await self.snapshot(msg)
            return True
        if typ == "update":
            await self.update(msg)
            return True
        if typ == "error":
            refusal = ServerError(
                str(msg.get("code", "")), str(msg.get("message", "")), tuple(str(s) for s in msg.get("symbols") or ())
            )
            if self.c.on_error is None:  # otherwise the callback says it
                self.c.log.warning("ticker client: server error %s", refusal)
            await _call(self.c.on_error, refusal)
        return False

    async def epoch(self, msg: dict[str, Any]) -> None:
        """Takes the stream's epoch from a subscribed ack or a snapshot."""
        c = self.c
        epoch = msg.get("epoch")
        if isinstance(epoch, int) and epoch > 0:
            renewed = c._epoch != 0 and epoch != c._epoch
            c._epoch = epoch
            if renewed:
                # a new stream: seqs start again, nothing held is comparable
                c._book.clear()
                self.fresh.clear()
                self.resyncing.clear()
                c.log.info("ticker client: the stream began a new epoch %d; book dropped", epoch)
                await _call(c.on_status, Status(StatusKind.NEW_EPOCH, epoch=epoch))

    async def snapshot(self, msg: dict[str, Any]) -> None:
        c = self.c
        await self.epoch(msg)
        reason = str(msg.get("reason", ""))
        for qv in msg.get("quotes") or ():
            q = decode_quote(qv)
            self.resyncing.discard(q.symbol)
            self.fresh.add(q.symbol)
            c._book[q.symbol] = q
            await c._emit(Update(q, q, snapshot=True, reason=reason, from_seq=q.seq))

    async def update(self, msg: dict[str, Any]) -> None:
        c = self.c
        gapped: list[str] = []
        for dv in msg.get("quotes") or ():
            d = decode_quote(dv)
            first = dv.get("from", d.seq)  # a conflated entry covers from..seq
            if not isinstance(first, int) or isinstance(first, bool) or not 0 < first <= d.seq:
                raise ProtocolError(f"update with from {first!r} and seq {d.seq}: {dv!r}")
            if d.symbol in self.resyncing:
                continue  # its snapshot is on the way
            q = c._book.get(d.symbol)
            known = q is not None and d.symbol in self.fresh
            if not known and first == 1:
                q = Quote(d.symbol, 0)  # its first version
                self.fresh.add(d.symbol)
            elif q is None or not known or first != q.seq + 1:
                c._gaps += 1
                gapped.append(d.symbol)
                self.resyncing.add(d.symbol)
                continue
            q = q.apply(d)
            c._book[d.symbol] = q
            await c._emit(Update(q, d, from_seq=first))
        if gapped:
            c.log.warning("ticker client: seq gap; resubscribing %s", gapped)
            await _call(c.on_status, Status(StatusKind.RESYNCING, symbols=tuple(gapped)))
            # unsubscribing and subscribing again brings a fresh snapshot;
            # under "*" a symbol's own subscribe brings none, "*" again does
            again = gapped
            if "*" in c._symbols:
                again = ["*"] + [s for s in gapped if s in c._symbols]
            await c._send("unsubscribe", again)
            await c._send("subscribe", again)
