"""The values a ticker client hands to a bot: quotes of exact decimals,
updates, connection statuses and server errors, and how a wire quote is
decoded and a delta applied."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

#: The decimal fields of a quote, in wire order.
FIELDS = ("bid", "bid_size", "ask", "ask_size", "last", "last_size", "volume")


@dataclass(frozen=True)
class Quote:
    """A symbol's state at version ``seq``. A field the feed never gave is
    ``None``; in a delta, only the fields that changed are set.

    ``stale`` is True while the symbol's feed is down: the values are the
    last it gave (``ts`` still says when they changed), until its next
    quote. A snapshot's quote has True or None (fresh); a delta sets it only
    when it changed, to True or to False (fresh again)."""

    symbol: str
    seq: int
    ts: int = 0  # event time of the latest change, Unix microseconds
    bid: Decimal | None = None
    bid_size: Decimal | None = None
    ask: Decimal | None = None
    ask_size: Decimal | None = None
    last: Decimal | None = None
    last_size: Decimal | None = None
    volume: Decimal | None = None
    stale: bool | None = None

    @property
    def time(self) -> datetime.datetime:
        """The event time ``ts`` as an aware UTC datetime (microseconds kept)."""
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return epoch + datetime.timedelta(microseconds=self.ts)

    def spread(self) -> Decimal | None:
        """ask − bid, exactly, or None while either is unknown."""
        if self.bid is None or self.ask is None:
            return None
        with decimal.localcontext() as ctx:
            ctx.prec = 100  # the wire allows 38 + 40 digits: never round
            return self.ask - self.bid

    def apply(self, delta: Quote) -> Quote:
        """The quote after ``delta``: its seq and ts, and every field it sets
        (``stale`` included)."""
        changes: dict[str, Any] = {"seq": delta.seq, "ts": delta.ts}
        for f in (*FIELDS, "stale"):
            v = getattr(delta, f)
            if v is not None:
                changes[f] = v
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Update:
    """One change of one symbol: the full quote after it, what changed (for a
    snapshot, the whole quote), and whether a snapshot replaced the quote."""

    quote: Quote
    delta: Quote
    snapshot: bool = False
    reason: str = ""  # a snapshot's reason: "subscribe" or "resync"
    #: the first seq the change covers (delta.seq the last): delta.seq, but
    #: earlier in a conflated update (Client(every=...))
    from_seq: int = 0


class StatusKind(enum.Enum):
    """What happened to the connection."""

    CONNECTED = "connected"  # a connection is up and subscribed
    DISCONNECTED = "disconnected"  # it ended; a reconnect follows after Status.wait
    RESYNCING = "resyncing"  # a seq gap: Status.symbols are being resubscribed
    NEW_EPOCH = "new_epoch"  # the stream started again: the book was dropped


@dataclass(frozen=True)
class Status:
    """A change of the connection."""

    kind: StatusKind
    error: BaseException | None = None  # why it disconnected
    wait: float = 0.0  # seconds until the next attempt
    symbols: tuple[str, ...] = ()  # resyncing these
    epoch: int = 0  # the new epoch (NEW_EPOCH)


@dataclass(frozen=True)
class ServerError(Exception):
    """An ``error`` message from the server (``unknown_symbol``, …). It never
    closes the connection."""

    code: str
    message: str
    symbols: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.code}: {self.message} {list(self.symbols)}"


class HandshakeError(Exception):
    """The server refused the WebSocket handshake with an HTTP status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"handshake refused: HTTP {status}")
        self.status = status


class ProtocolError(Exception):
    """The server sent something that is not ticker.v1."""


def decode_quote(v: Any) -> Quote:
    """A Quote from a decoded wire quote or delta; decimals from their
    strings, exactly (never through a float)."""
    if not isinstance(v, dict):
        raise ProtocolError(f"quote is not an object: {v!r}")
    sym, seq, ts = v.get("s"), v.get("seq"), v.get("ts", 0)
    if not isinstance(sym, str) or not sym or not isinstance(seq, int) or seq <= 0 or not isinstance(ts, int):
        raise ProtocolError(f"quote without s, seq or ts: {v!r}")
    fields: dict[str, Any] = {}  # Decimals, beside a Quote that also takes stale
    for f in FIELDS:
        raw = v.get(f)
        if raw is None:
            continue
        if not isinstance(raw, str):
            raise ProtocolError(f"{sym} {f}: not a decimal string: {raw!r}")
        try:
            d = Decimal(raw)
        except decimal.InvalidOperation:
            raise ProtocolError(f"{sym} {f}: not a decimal: {raw!r}") from None
        if not d.is_finite():
            raise ProtocolError(f"{sym} {f}: not a finite decimal: {raw!r}")
        fields[f] = d
    stale = v.get("stale")
    if stale is not None and not isinstance(stale, bool):
        raise ProtocolError(f"{sym} stale: not a boolean: {stale!r}")
    return Quote(symbol=sym, seq=seq, ts=ts, stale=stale, **fields)
