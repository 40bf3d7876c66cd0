"""A bot's test on a stepped market: ticker --step-control replays a fixture
only when the test steps it (POST /control/step) and takes the test's own
quotes (POST /control/publish), so that the client sees the same updates,
seq for seq and ts for ts, every run."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from conftest import Server
from test_client import rest_quotes, run, until
from ticker_client import Client, Update


def control(srv: Server, method: str, path: str, body: str = "") -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(f"http://{srv.addr}{path}", data=body.encode() if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def session(server_factory: Callable[..., Server], fixture: Path) -> tuple[list[tuple[Any, ...]], list[str]]:
    """One scripted session; returns what the bot saw and its alerts."""
    srv = server_factory(["--step-control", "--feed", f"replay:{fixture}", "--coalesce", "100ms"])
    seen: list[tuple[Any, ...]] = []
    alerts: list[str] = []

    def on_update(u: Update) -> None:
        q = u.quote
        seen.append((q.symbol, q.seq, q.ts, u.snapshot, q.bid, q.ask, q.last))
        s = q.spread()
        if s is not None and s > Decimal("0.05"):
            alerts.append(f"{q.symbol} {s} at seq {q.seq}")

    async def main() -> None:
        c = Client(srv.url, ["BTC-USD", "ETH-USD"], on_update=on_update)
        task = asyncio.create_task(c.run())
        # a window stepped before the subscription is handled would not reach the bot
        await until(lambda: int(control(srv, "GET", "/control/state")[1]["subscriptions"]) >= 2, 10, "the subscriptions")
        for _ in range(3):
            code, w = await asyncio.to_thread(control, srv, "POST", "/control/step?next=true")
            assert code == 200 and w["quotes"] == 1, w
        code, w = await asyncio.to_thread(control, srv, "POST", "/control/step")
        assert code == 200 and w["quotes"] > 1, w
        # the bot's own scenario: a spread that widens
        t = w["time"]
        lines = f'{{"ts":{t + 1},"s":"BTC-USD","bid":"64000.00","ask":"64000.10"}}\n'
        code, p = await asyncio.to_thread(control, srv, "POST", "/control/publish", lines)
        assert code == 200 and p == {"published": 1}, p
        code, w = await asyncio.to_thread(control, srv, "POST", f"/control/step?to={t + 1000}")
        assert code == 200 and w["time"] == t + 1000, w
        # wait for the last window, whose state REST serves now
        want = rest_quotes(srv.addr)
        await until(lambda: c.book() == {s: want[s] for s in ("BTC-USD", "ETH-USD")}, 10, "the last window")
        assert c.gaps == 0
        await c.close()
        await task

    run(main())
    return seen, alerts


def test_stepped_market_is_the_same_every_run(server_factory: Callable[..., Server], repo: Path) -> None:
    fixture = repo / "fixtures" / "crypto.ndjson"
    seen1, alerts1 = session(server_factory, fixture)
    seen2, alerts2 = session(server_factory, fixture)
    assert seen1 == seen2 and alerts1 == alerts2
    # crypto.ndjson's first line, published at the first step
    assert seen1[0] == ("BTC-USD", 1, 1763942400000000, False, Decimal("64000.10"), Decimal("64000.14"), None)
    assert ("ETH-USD", 1) == seen1[1][:2]
    # the published quote comes last, at its own ts, and fires the alert
    last = [s for s in seen1 if s[0] == "BTC-USD"][-1]
    assert last[4:6] == (Decimal("64000.00"), Decimal("64000.10"))
    assert alerts1[-1] == f"BTC-USD 0.1 at seq {last[1]}"  # the server sends 64000.1: exact, not 0.0999…


def test_control_refuses_bad_requests(server_factory: Callable[..., Server]) -> None:
    srv = server_factory(["--step-control"])  # no feed: only published quotes
    assert control(srv, "POST", "/control/publish", '{"s":"AAPL","bid":"1"}')[0] == 400  # no ts
    code, w = control(srv, "POST", "/control/step")
    assert code == 200 and w["quotes"] == 0 and w["more"] is False
    assert control(srv, "POST", "/control/step?to=1")[0] == 409  # before the clock
    assert control(srv, "GET", "/control/publish")[0] == 405
    code, st = control(srv, "GET", "/control/state")
    assert code == 200 and st["time"] == 1764000000050000  # the default start, one 50 ms window on
