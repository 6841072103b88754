"""The ``langfuse-async`` command: ``serve`` a collector, print ``traces``, run the ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

logger = logging.getLogger("langfuse_async")

_DEFAULT_DB = "langfuse-async.db"


def _parser() -> argparse.ArgumentParser:
    from ._collector import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY

    parser = argparse.ArgumentParser(
        prog="langfuse-async",
        description="A local Langfuse-compatible collector and a demo of langfuse_async.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run a Langfuse-compatible collector storing into SQLite",
        description="Run a local, Langfuse-compatible collector (a development server).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 = any free)")
    serve.add_argument("--db", default=_DEFAULT_DB, help=f"SQLite file (default ./{_DEFAULT_DB})")
    serve.add_argument("--public-key", default=DEFAULT_PUBLIC_KEY, help="accepted public key")
    serve.add_argument("--secret-key", default=DEFAULT_SECRET_KEY, help="accepted secret key")
    serve.add_argument(
        "--mode",
        choices=("v3", "v4"),
        default="v3",
        help="behave like a Langfuse v3 server, or v4 in its default events_only mode",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address (it is a development server)",
    )

    traces = commands.add_parser(
        "traces",
        help="print the most recent traces of a collector database as trees",
        description="Print recent traces as indented trees.",
    )
    traces.add_argument("--db", default=_DEFAULT_DB, help=f"SQLite file (default ./{_DEFAULT_DB})")
    traces.add_argument("--limit", type=int, default=10, help="how many traces (default 10)")

    commands.add_parser(
        "demo",
        help="trace a small async service workload and print what arrived",
        add_help=False,
    )
    return parser


async def _serve(args: argparse.Namespace) -> int:
    from ._collector import DEFAULT_SECRET_KEY, Collector

    collector = Collector(
        db_path=args.db,
        public_key=args.public_key,
        secret_key=args.secret_key,
        mode=args.mode,
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
    )
    database = os.path.abspath(args.db)  # noqa: ASYNC240 (a string operation, no I/O)
    await collector.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    secret = args.secret_key if args.secret_key == DEFAULT_SECRET_KEY else "<your --secret-key>"
    print(
        f"langfuse-async collector listening on {collector.url}"
        f" (Langfuse {collector.version}, mode {args.mode})\n"
        f"  database: {database}\n"
        f"  point a client at it with:\n"
        f"    LANGFUSE_BASE_URL={collector.url}\n"
        f"    LANGFUSE_PUBLIC_KEY={args.public_key}\n"
        f"    LANGFUSE_SECRET_KEY={secret}\n"
        f"  Ctrl+C to stop",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await collector.aclose()
    return 0


def _traces(args: argparse.Namespace) -> int:
    from ._collector._render import render_store
    from ._collector._store import Store

    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    if not os.path.exists(args.db):
        print(
            f"error: no database at {args.db} (start `langfuse-async serve` first)", file=sys.stderr
        )
        return 1
    store = Store(args.db)
    try:
        encoding = (getattr(sys.stdout, "encoding", None) or "ascii").lower()
        ascii_only = "utf" not in encoding
        print(render_store(store, limit=args.limit, ascii_only=ascii_only))
    finally:
        store.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` when None.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "demo":
        # The demo parses its own options; it is imported only when asked for.
        demo: Any = importlib.import_module("langfuse_async._demo")
        return int(demo.main(arguments[1:]))
    args = _parser().parse_args(arguments)
    if args.command == "traces":
        return _traces(args)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    try:
        return asyncio.run(_serve(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
