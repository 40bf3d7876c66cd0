"""ticker_client against the real server binary (and, for what a real server
never does on purpose, a seq gap, a scripted one)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websockets.legacy.server

from conftest import Server
from ticker_client import (
    Client,
    HandshakeError,
    Quote,
    ServerError,
    Status,
    StatusKind,
    Update,
    backoff,
    decode_quote,
)


def run(coro: Coroutine[Any, Any, None], timeout: float = 30) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


async def until(cond: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.01)


def rest_quotes(addr: str) -> dict[str, Quote]:
    with urllib.request.urlopen(f"http://{addr}/api/quotes", timeout=5) as r:
        body = json.load(r)
    return {q["s"]: decode_quote(q) for q in body["quotes"]}


def test_snapshot_then_gapless_updates(addr: str) -> None:
    """A snapshot per symbol, then updates seq+1 by seq+1, as Decimals; the
    connection negotiated permessage-deflate; close() ends run()."""
    got: list[Update] = []
    statuses: list[Status] = []

    async def main() -> None:
        c = Client(f"ws://{addr}/ws", ["AAPL", "BTC-USD"], on_update=got.append, on_status=statuses.append)
        task = asyncio.create_task(c.run())
        await until(lambda: sum(not u.snapshot for u in got) >= 20, 15, "20 updates")
        assert "permessage-deflate" in c.extensions
        assert c.epoch > 0 and c.gaps == 0
        await c.close()
        await asyncio.wait_for(task, 5)
        book = c.book()
        assert set(book) == {"AAPL", "BTC-USD"}
        for sym, q in book.items():
            last = [u for u in got if u.quote.symbol == sym][-1]
            assert last.quote == q

    run(main())
    assert statuses[0].kind is StatusKind.CONNECTED
    seen: dict[str, int] = {}
    for u in got:
        q = u.quote
        if q.symbol not in seen:
            assert u.snapshot and u.reason == "subscribe", u
        else:
            assert not u.snapshot and q.seq == seen[q.symbol] + 1, (seen[q.symbol], u)
        seen[q.symbol] = q.seq
        assert isinstance(q.bid, Decimal) and isinstance(q.ask, Decimal)
        spread = q.spread()
        assert spread is not None and spread == q.ask - q.bid and spread > 0
        # the delta holds only what changed; the quote, everything
        assert u.delta.seq == q.seq and u.delta.symbol == q.symbol
        assert q.time.timestamp() > 1.7e9


def test_no_deflate(addr: str) -> None:
    async def main() -> None:
        c = Client(f"ws://{addr}/ws", ["AAPL"], deflate=False)
        async for u in c:
            assert u.snapshot
            assert c.extensions == ""
            break
        # leaving the loop stops the client once the iterator is collected
        await until(lambda: not c.connected, 5, "the client to stop")

    run(main())


def test_async_iterator_and_subscribe(addr: str) -> None:
    """The iterator yields in order; subscribe() adds a symbol on the open
    connection (its snapshot follows), unsubscribe() drops it from the book;
    an unknown symbol comes back as a ServerError."""
    errors: list[ServerError] = []

    async def main() -> None:
        c = Client(f"ws://{addr}/ws", ["AAPL"], on_error=errors.append)
        syms: set[str] = set()
        async for u in c:
            syms.add(u.quote.symbol)
            if len(syms) == 1 and "EUR-USD" not in c.book() and not errors:
                assert await c.subscribe("EUR-USD", "NO-SUCH")
                syms.add("requested")
            if "EUR-USD" in syms and errors:
                break
        assert c.quote("EUR-USD") is not None
        await c.close()
        assert not await c.unsubscribe("EUR-USD")  # not connected any more: later connections
        assert c.quote("EUR-USD") is None

    run(main())
    assert errors[0].code == "unknown_symbol" and errors[0].symbols == ("NO-SUCH",)


def test_book_matches_server(server_factory: Callable[..., Server], repo: Path) -> None:
    """Subscribed to "*" while a fixture replays, the client's book ends equal
    to the server's /api/quotes, quote by quote."""
    fixture = repo / "fixtures" / "crypto.ndjson"
    srv = server_factory(["--feed", f"replay:{fixture}?speed=10", "--coalesce", "10ms"])
    updates = 0

    def count(u: Update) -> None:
        nonlocal updates
        updates += not u.snapshot

    async def main() -> None:
        c = Client(srv.url, ["*"], on_update=count)
        task = asyncio.create_task(c.run())
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 1.0:  # the replay has ended
            await asyncio.sleep(0.1)
            if updates != last:
                last, quiet_since = updates, time.monotonic()
        assert c.gaps == 0
        want = rest_quotes(srv.addr)
        assert c.book() == want
        await c.close()
        await task

    run(main(), timeout=60)
    assert updates > 100


def test_token(server_factory: Callable[..., Server], tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("s3cret-token\n")
    srv = server_factory(["--auth-tokens", str(tokens)])

    async def main() -> None:
        with pytest.raises(HandshakeError) as refused:
            await Client(srv.url, ["AAPL"]).run()
        assert refused.value.status == 401
        with pytest.raises(HandshakeError):
            await Client(srv.url, ["AAPL"], token="wrong").run()
        c = Client(srv.url, ["AAPL"], token="s3cret-token")
        async for u in c:
            # a server that just started may have no quote yet: then the first comes as seq 1
            assert u.quote.symbol == "AAPL" and (u.snapshot or u.quote.seq == 1), u
            break
        await c.close()

    run(main())


class Proxy:
    """A TCP relay the client dials, so that a server can be replaced behind
    one address: with no target, it refuses every connection."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.conns: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return "127.0.0.1:%d" % self.server.sockets[0].getsockname()[1]

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if self.target is None:
            w.close()
            return
        host, port = self.target.rsplit(":", 1)
        try:
            ur, uw = await asyncio.open_connection(host, int(port))
        except OSError:
            w.close()
            return
        self.conns += [w, uw]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(r, uw), pipe(ur, w))

    async def close(self) -> None:
        self.server.close()
        for w in self.conns:
            w.close()


def test_reconnect_resubscribe_new_epoch(server_factory: Callable[..., Server]) -> None:
    """The server restarts: the client reports the disconnect, redials with
    backoff, subscribes again, and since a new process is a new epoch, drops
    its whole book before the new snapshot. (The client dials a relay that
    refuses until the new server has its quotes: one that has none yet has
    no snapshot, and so no epoch, to send.)"""
    srv = server_factory(["--feed", "synthetic:?symbols=5&rate=50"])
    events: list[tuple[str, Any]] = []
    book_at_new_epoch: list[dict[str, Quote]] = []
    c: Client

    def status(s: Status) -> None:
        events.append((s.kind.value, s.wait if s.kind is StatusKind.DISCONNECTED else s.epoch))
        if s.kind is StatusKind.NEW_EPOCH:
            book_at_new_epoch.append(c.book())

    def update(u: Update) -> None:
        if u.snapshot:
            events.append(("snapshot", u.quote.symbol))

    async def main() -> None:
        nonlocal c
        # quotes first, so that the subscribe is answered by a snapshot, which carries the epoch
        await until(lambda: len(rest_quotes(srv.addr)) == 5, 10, "the server's quotes")
        proxy = Proxy()
        proxy.target = srv.addr
        front = await proxy.start()
        c = Client(f"ws://{front}/ws", ["AAPL", "BTC-USD"], min_backoff=0.05, max_backoff=0.4, on_status=status, on_update=update)
        task = asyncio.create_task(c.run())
        await until(lambda: c.quote("BTC-USD") is not None and c.quote("AAPL") is not None, 10, "both snapshots")
        first_epoch = c.epoch
        proxy.target = None
        await asyncio.to_thread(srv.stop)
        await until(lambda: any(k == "disconnected" for k, _ in events), 10, "the disconnect")
        await asyncio.to_thread(srv.start)
        await until(lambda: len(rest_quotes(srv.addr)) == 5, 10, "the new server's quotes")
        await asyncio.sleep(0.2)  # a few refused redials, and a published window
        proxy.target = srv.addr
        await until(lambda: any(k == "new_epoch" for k, _ in events), 15, "the new epoch")
        await until(lambda: len(c.book()) == 2, 10, "both symbols again")
        assert c.epoch != first_epoch
        await c.close()
        await task
        await proxy.close()

    run(main(), timeout=60)
    kinds = [k for k, _ in events]
    assert kinds[:3] == ["connected", "snapshot", "snapshot"], events
    waits = [w for k, w in events if k == "disconnected"]
    assert len(waits) >= 2 and all(0 <= w <= 0.4 for w in waits), waits
    i = kinds.index("new_epoch")
    assert kinds[i - 1] == "connected" and kinds[i + 1 : i + 3] == ["snapshot", "snapshot"], events
    assert book_at_new_epoch == [{}]  # dropped before the new stream's snapshot


def test_seq_gap_resyncs() -> None:
    """A skipped seq resubscribes the symbol (unsubscribe, subscribe), skips
    its updates until the fresh snapshot, and counts the gap. A real server
    never skips, so a scripted one does."""
    got: list[Update] = []
    statuses: list[Status] = []
    requests: list[dict[str, Any]] = []

    def snap(seq: int, epoch: int = 7, reason: str = "subscribe") -> str:
        q = {"s": "X", "seq": seq, "ts": 1764000000000000 + seq, "bid": "1.10", "ask": "1.2"}
        return json.dumps({"type": "snapshot", "reason": reason, "epoch": epoch, "time": 1, "quotes": [q]})

    def upd(seq: int, bid: str) -> str:
        return json.dumps({"type": "update", "time": 1, "quotes": [{"s": "X", "seq": seq, "ts": 1764000000000000 + seq, "bid": bid}]})

    async def venue(ws: websockets.legacy.server.WebSocketServerProtocol, _path: str) -> None:
        await ws.send(snap(5))
        await ws.send(upd(6, "1.11"))
        await ws.send(upd(8, "1.13"))  # 7 is missing
        requests.append(json.loads(await ws.recv()))
        requests.append(json.loads(await ws.recv()))
        await ws.send(upd(9, "1.14"))  # still resyncing: skipped
        await ws.send(snap(12, reason="subscribe"))
        await ws.send(upd(13, "1.15"))
        await ws.send(snap(3, epoch=8, reason="resync"))  # a new stream
        await ws.send(upd(4, "2"))
        await ws.wait_closed()

    async def main() -> None:
        async with websockets.legacy.server.serve(venue, "127.0.0.1", 0) as server:
            port = list(server.sockets)[0].getsockname()[1]
            c = Client(f"ws://127.0.0.1:{port}/ws", ["X"], on_update=got.append, on_status=statuses.append)
            task = asyncio.create_task(c.run())
            await until(lambda: len(got) == 6, 10, "six updates")
            assert c.gaps == 1 and c.epoch == 8
            q = c.quote("X")
            assert q is not None and q.seq == 4 and q.bid == Decimal("2") and q.ask == Decimal("1.2")
            await c.close()
            await task

    run(main())
    assert [(u.quote.seq, u.snapshot) for u in got] == [(5, True), (6, False), (12, True), (13, False), (3, True), (4, False)]
    assert [r["op"] for r in requests] == ["unsubscribe", "subscribe"] and all(r["symbols"] == ["X"] for r in requests)
    assert [s.kind for s in statuses] == [StatusKind.CONNECTED, StatusKind.RESYNCING, StatusKind.NEW_EPOCH]
    assert statuses[1].symbols == ("X",) and statuses[2].epoch == 8
    assert got[1].quote.bid == Decimal("1.11") and got[1].delta.ask is None and got[1].quote.ask == Decimal("1.2")


def test_stale_while_the_venue_is_down(server_factory: Callable[..., Server]) -> None:
    """A server whose venue feed (Coinbase's shape, played by a local fake)
    goes down marks its symbols stale at once (--stale-after 0s): the
    client's quotes say stale=True, seq + 1 with no gap, values kept; the
    venue's next quote makes its symbol fresh (False) and leaves the other
    stale."""
    got: list[Update] = []
    drop, resume = asyncio.Event(), asyncio.Event()
    connections = 0

    def ticker(kind: str, tickers: list[dict[str, str]]) -> str:
        return json.dumps(
            {"channel": "ticker", "timestamp": "2025-11-24T16:00:00Z", "sequence_num": 0,
             "events": [{"type": kind, "tickers": tickers}]}
        )

    async def venue(ws: websockets.legacy.server.WebSocketServerProtocol, _path: str) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()  # ticker and heartbeats subscriptions
        await ws.recv()
        if connections == 1:
            await ws.send(ticker("snapshot", [
                {"product_id": "BTC-USD", "price": "97260.5", "best_bid": "97260.49", "best_ask": "97260.5"},
                {"product_id": "ETH-USD", "price": "3100.1", "best_bid": "3100", "best_ask": "3100.2"},
            ]))
            await drop.wait()
            await ws.close()
            return
        await resume.wait()
        await ws.send(ticker("update", [{"product_id": "BTC-USD", "price": "97261"}]))
        await ws.wait_closed()

    async def main() -> None:
        async with websockets.legacy.server.serve(venue, "127.0.0.1", 0) as vs:
            port = list(vs.sockets)[0].getsockname()[1]
            spec = f"coinbase:BTC-USD,ETH-USD?url=ws://127.0.0.1:{port}/&backoff=50ms&maxbackoff=50ms"
            srv = await asyncio.to_thread(server_factory, ["--feed", spec, "--stale-after", "0s", "--coalesce", "10ms"])
            await until(lambda: len(rest_quotes(srv.addr)) == 2, 10, "both quotes on the server")
            c = Client(srv.url, ["BTC-USD", "ETH-USD"], on_update=got.append)
            task = asyncio.create_task(c.run())
            try:
                await until(lambda: len(c.book()) == 2, 10, "the snapshot")
                before = c.book()
                assert all(not q.stale for q in before.values()), before
                drop.set()
                await until(lambda: all(q.stale for q in c.book().values()), 10, "both stale")
                for sym, q in c.book().items():
                    assert q.seq == before[sym].seq + 1 and q.ts == before[sym].ts and q.last == before[sym].last, (q, before[sym])
                assert all(q.stale is True for q in rest_quotes(srv.addr).values())
                resume.set()
                await until(lambda: c.book()["BTC-USD"].last == Decimal("97261"), 10, "BTC-USD's next quote")
                btc, eth = c.book()["BTC-USD"], c.book()["ETH-USD"]
                assert btc.stale is False and btc.seq == before["BTC-USD"].seq + 2, btc
                assert eth.stale is True and eth.seq == before["ETH-USD"].seq + 1, eth
                assert c.gaps == 0
            finally:
                drop.set()  # a failed check must not leave the venue's handlers waiting
                resume.set()
                await c.close()
                await task

    run(main())
    deltas = [u.delta for u in got if not u.snapshot]
    assert [(d.symbol, d.stale) for d in deltas] == [("BTC-USD", True), ("ETH-USD", True), ("BTC-USD", False)] or [
        (d.symbol, d.stale) for d in deltas
    ] == [("ETH-USD", True), ("BTC-USD", True), ("BTC-USD", False)], deltas
    assert all(d.bid is None and d.ask is None for d in deltas[:2])


def test_backoff_doubles_with_full_jitter() -> None:
    for n, cap in enumerate([0.25, 0.5, 1, 2, 4, 8, 16, 30, 30]):
        draws = [backoff(0.25, 30, n) for _ in range(300)]
        assert all(0 <= d <= cap for d in draws), n
        assert max(draws) > cap * 0.8 and min(draws) < cap * 0.2, (n, min(draws), max(draws))


def test_decode_is_exact() -> None:
    q = decode_quote({"s": "SHIB-USD", "seq": 1, "ts": 1, "bid": "0.00001234", "ask": "123456789012345678901234567890.1"})
    assert q.bid == Decimal("0.00001234") and str(q.ask) == "123456789012345678901234567890.1"
    assert q.spread() == Decimal("123456789012345678901234567890.09998766")
    assert decode_quote({"s": "X", "seq": 2, "ts": 1, "stale": True}).stale is True
    assert decode_quote({"s": "X", "seq": 2, "ts": 1}).stale is None
    for bad in [{"s": "X", "seq": 1, "bid": 1.5}, {"s": "X", "seq": 1, "bid": "NaN"}, {"s": "X", "bid": "1"}, {"s": "X", "seq": 1, "stale": "yes"}]:
        with pytest.raises(Exception):
            decode_quote(bad)


def test_example_bot(addr: str) -> None:
    """examples/spread_alert.py prints a WIDE line for every symbol it follows."""
    example = Path(__file__).resolve().parent.parent / "examples" / "spread_alert.py"
    symbols = ["AAPL", "NVDA", "SOL-USD"]
    proc = subprocess.Popen(
        [sys.executable, str(example), "--url", f"ws://{addr}/ws", "--symbols", ",".join(symbols), "--bps", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(example.parent.parent)},
    )
    fired: set[str] = set()
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while fired != set(symbols) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if "WIDE" in line:
                fired.add(line.split()[1])
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert fired == set(symbols), f"alerts {lines}\nstderr: {err}"
    print("\n".join(lines[:3]))


async def _drop_proxy(upstream: str, drop: int) -> tuple[asyncio.AbstractServer, list[int]]:
    """A TCP proxy to the real server that drops the server's update frame
    number `drop` (from 1), as a lossy path would: a real gap in a real
    stream. The client must not offer deflate (a frame's payload is text)."""
    host, port = upstream.rsplit(":", 1)
    dropped: list[int] = []

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    async def frames(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            w.write(await r.readuntil(b"\r\n\r\n"))  # the handshake's answer
            updates = 0
            while True:
                head = await r.readexactly(2)
                n, ext = head[1] & 0x7F, b""
                if n == 126:
                    ext = await r.readexactly(2)
                    n = int.from_bytes(ext, "big")
                elif n == 127:
                    ext = await r.readexactly(8)
                    n = int.from_bytes(ext, "big")
                payload = await r.readexactly(n)
                if head[0] & 0x0F == 1 and payload.startswith(b'{"type":"update"'):
                    updates += 1
                    if updates == drop:
                        dropped.append(updates)
                        continue
                w.write(head + ext + payload)
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(cr, sw), frames(sr, cw))

    return await asyncio.start_server(handle, "127.0.0.1", 0), dropped


def test_gap_under_wildcard_repaired(server_factory: Callable[..., Server]) -> None:
    """A client on "*" that loses one update (dropped between the real
    server and it) repairs every symbol: under "*" a symbol's own subscribe
    brings no snapshot, so it subscribes to "*" again, and each symbol's
    seq catches up with the server's without another gap."""
    srv = server_factory(["--feed", "synthetic:?symbols=4&rate=200&seed=5", "--coalesce", "20ms"])

    async def main() -> None:
        proxy, dropped = await _drop_proxy(srv.addr, 5)
        port = proxy.sockets[0].getsockname()[1]
        c = Client(f"ws://127.0.0.1:{port}/ws", ["*"], deflate=False)
        task = asyncio.create_task(c.run())
        try:
            await until(lambda: c.gaps > 0, 10, "a gap")
            assert dropped == [5]
            want = rest_quotes(srv.addr)
            for sym, w in want.items():
                await until(lambda: (q := c.quote(sym)) is not None and q.seq >= w.seq, 10, f"{sym} repaired")
            gaps = c.gaps
            await asyncio.sleep(0.3)
            assert c.gaps == gaps, "gaps went on after the repair"
        finally:
            await c.close()
            await task
            proxy.close()

    run(main())
def test_every_conflates(server_factory: Callable[..., Server], repo: Path) -> None:
    """With every=, updates come conflated (from_seq below seq), without a
    gap, far fewer than at the window, and the book still ends equal to the
    server's; every= that is not whole milliseconds is refused at once."""
    fixture = repo / "fixtures" / "crypto.ndjson"
    srv = server_factory(["--feed", f"replay:{fixture}?speed=10", "--coalesce", "10ms"])
    counts = {"window": 0, "every": 0, "spans": 0}

    def counter(key: str) -> Callable[[Update], None]:
        def count(u: Update) -> None:
            if u.snapshot:
                return
            counts[key] += 1
            if u.from_seq < u.delta.seq:
                counts["spans"] += 1
            assert key == "every" or u.from_seq == u.delta.seq

        return count

    async def main() -> None:
        slow = Client(srv.url, ["*"], every=0.2, on_update=counter("every"))
        fast = Client(srv.url, ["*"], on_update=counter("window"))
        tasks = [asyncio.create_task(slow.run()), asyncio.create_task(fast.run())]
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() - quiet_since < 1.0:  # the replay has ended
            await asyncio.sleep(0.1)
            if counts["window"] != last:
                last, quiet_since = counts["window"], time.monotonic()
        await asyncio.sleep(0.5)  # past the last interval
        want = rest_quotes(srv.addr)
        for c in (slow, fast):
            assert c.gaps == 0
            assert c.book() == want
            await c.close()
        await asyncio.gather(*tasks)

    run(main(), timeout=60)
    assert counts["spans"] > 0 and counts["every"] * 3 < counts["window"], counts
    with pytest.raises(ValueError):
        Client("ws://x/ws", every=0.0005)
    with pytest.raises(ValueError):
        Client("ws://x/ws", every=61)


def test_every_gap_resyncs() -> None:
    """A conflated entry whose from does not follow the seq held is a gap:
    the symbol is subscribed again, with the interval."""
    got: list[Update] = []
    requests: list[dict[str, Any]] = []
    paths: list[str] = []

    async def venue(ws: websockets.legacy.server.WebSocketServerProtocol, path: str) -> None:
        paths.append(path)
        q = {"s": "X", "seq": 5, "ts": 1764000000000005, "bid": "1.10", "ask": "1.2"}
        await ws.send(json.dumps({"type": "snapshot", "reason": "subscribe", "epoch": 7, "time": 1, "quotes": [q]}))
        await ws.send(json.dumps({"type": "update", "time": 2, "quotes": [{"s": "X", "from": 6, "seq": 9, "ts": 1764000000000009, "bid": "1.11"}]}))
        await ws.send(json.dumps({"type": "update", "time": 3, "quotes": [{"s": "X", "from": 11, "seq": 12, "ts": 1764000000000012, "ask": "1.3"}]}))
        requests.append(json.loads(await ws.recv()))
        requests.append(json.loads(await ws.recv()))
        await ws.wait_closed()

    async def main() -> None:
        async with websockets.legacy.server.serve(venue, "127.0.0.1", 0) as server:
            port = list(server.sockets)[0].getsockname()[1]
            c = Client(f"ws://127.0.0.1:{port}/ws", ["X"], every=1, on_update=got.append)
            task = asyncio.create_task(c.run())
            await until(lambda: len(requests) == 2, 10, "the resubscribe")
            assert c.gaps == 1
            q = c.quote("X")
            assert q is not None and q.seq == 9 and q.bid == Decimal("1.11")
            await c.close()
            await task

    run(main())
    assert paths == ["/ws?symbols=X&every=1s"]
    assert [(u.quote.seq, u.from_seq) for u in got] == [(5, 5), (9, 6)]
    assert [r["op"] for r in requests] == ["unsubscribe", "subscribe"] and requests[1]["every"] == "1s"


def test_every_values() -> None:
    """every takes seconds or the protocol's own text; anything else is a
    ValueError naming it, before any connection."""
    for every, text in [("1s", "1s"), ("250ms", "250ms"), (1, "1s"), (0.25, "250ms")]:
        assert Client("ws://127.0.0.1:1/ws", ["X"], every=every).every == text
    for bad in [True, "abc", "1.5s", 61, 0]:
        with pytest.raises(ValueError, match="every="):
            Client("ws://127.0.0.1:1/ws", ["X"], every=bad)  # type: ignore[arg-type]
