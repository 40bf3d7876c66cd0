"""ticker_client: an asyncio client of ticker's WebSocket API (ticker.v1).

    import asyncio, ticker_client

    async def main() -> None:
        async for u in ticker_client.Client("ws://localhost:8080/ws", ["BTC-USD"]):
            print(u.quote.symbol, u.quote.seq, u.quote.spread())  # Decimal, exact

    asyncio.run(main())

The client keeps a local book (``Client.book()``), repairs a ``seq`` gap by
resubscribing, drops the book on a new stream ``epoch``, and reconnects with
backoff and jitter. Its only dependency is ``websockets``.
"""

from .client import Client, backoff
from .model import (
    FIELDS,
    HandshakeError,
    ProtocolError,
    Quote,
    ServerError,
    Status,
    StatusKind,
    Update,
    decode_quote,
)

__all__ = [
    "FIELDS",
    "Client",
    "HandshakeError",
    "ProtocolError",
    "Quote",
    "ServerError",
    "Status",
    "StatusKind",
    "Update",
    "backoff",
    "decode_quote",
]
