#!/usr/bin/env python3
"""spread_alert: an example trading bot on ticker_client. It follows a few
symbols and prints a line whenever a symbol's bid-ask spread widens past a
threshold (in basis points of the mid price), and when it narrows again.
The same bot as the Go examples/spread-alert, on the async iterator.

    go run . &                                       # the server, in the repository root
    PYTHONPATH=clients/python python3 clients/python/examples/spread_alert.py --symbols AAPL,NVDA,SOL-USD --bps 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from decimal import Decimal

from ticker_client import Client, HandshakeError, ServerError, Status, StatusKind


def on_status(s: Status) -> None:
    if s.kind is StatusKind.CONNECTED:
        print("connected", file=sys.stderr)
    elif s.kind is StatusKind.DISCONNECTED:
        print(f"disconnected ({s.error}); retrying in {s.wait:.3f}s", file=sys.stderr)
    elif s.kind is StatusKind.RESYNCING:
        print("seq gap; resyncing", list(s.symbols), file=sys.stderr)
    elif s.kind is StatusKind.NEW_EPOCH:
        print("the stream started again (epoch", s.epoch, "): book dropped", file=sys.stderr)


def on_error(e: ServerError) -> None:
    print("server:", e, file=sys.stderr)


async def watch(url: str, token: str | None, symbols: list[str], bps: Decimal, deflate: bool) -> None:
    threshold = bps / 10000
    wide: dict[str, bool] = {}
    client = Client(url, symbols, token=token, deflate=deflate, on_status=on_status, on_error=on_error)
    async for u in client:
        q = u.quote
        spread = q.spread()
        if spread is None or q.bid is None or q.ask is None:
            continue
        mid = (q.bid + q.ask) / 2
        if mid <= 0:
            continue
        rel = spread / mid
        is_wide = rel > threshold
        if is_wide != wide.get(q.symbol, False):
            wide[q.symbol] = is_wide
            state = "WIDE" if is_wide else "narrow again"
            print(
                f"{q.time:%H:%M:%S.%f}"[:-3],
                f"{q.symbol:<8} spread {spread} ({rel * 10000:.2f} bps) bid {q.bid} ask {q.ask} seq {q.seq}: {state}",
                flush=True,
            )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Each line starts with the quote's own time (its ts, UTC), not the time it printed.",
    )
    p.add_argument("--url", default="ws://localhost:8080/ws", help="the ticker server's WebSocket endpoint")
    p.add_argument("--token", default=os.environ.get("TICKER_TOKEN"), help="bearer token (or TICKER_TOKEN)")
    p.add_argument("--symbols", default="AAPL,NVDA,SOL-USD", help="comma-separated symbols, or *")
    p.add_argument("--bps", default="1", help="alert when the spread is wider than this many basis points of the mid")
    p.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    a = p.parse_args()
    try:
        bps = Decimal(a.bps)
    except ArithmeticError:
        bps = Decimal(0)
    if not bps.is_finite() or bps <= 0:
        print("spread_alert: --bps must be a positive number", file=sys.stderr)
        return 2
    try:
        asyncio.run(watch(a.url, a.token, a.symbols.split(","), bps, not a.no_deflate))
    except KeyboardInterrupt:
        return 0
    except HandshakeError as e:
        print("spread_alert:", e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
