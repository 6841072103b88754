"""The ``langfuse-async`` command: ``serve`` a collector, print ``traces``, run the ``demo``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from ._version import __version__

__all__ = ["main"]

logger = logging.getLogger("langfuse_async")

_DEFAULT_DB = "langfuse-async.db"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535; 0 = any free)")
    return port


class _OneLineHttpErrors(logging.Filter):
    """Turn aiohttp's traceback for a malformed HTTP request into one line.

    Garbage on the port is a client's mistake, answered with a 400; the console of a
    development server should say so, not print a stack trace.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = "collector: answered a malformed HTTP request with %s: %s"
            record.args = (error.code, (error.message.strip().splitlines() or [""])[0])
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _parser() -> argparse.ArgumentParser:
    from ._collector import DEFAULT_PUBLIC_KEY, DEFAULT_SECRET_KEY

    parser = argparse.ArgumentParser(
        prog="langfuse-async",
        description="A local Langfuse-compatible collector and a demo of langfuse_async.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run a Langfuse-compatible collector storing into SQLite",
        description="Run a local, Langfuse-compatible collector (a development server).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=3000, help="port (default 3000; 0 = any free port)"
    )
    serve.add_argument(
        "--db",
        metavar="PATH",
        default=_DEFAULT_DB,
        help=f"SQLite file, created if missing (default ./{_DEFAULT_DB})",
    )
    serve.add_argument(
        "--public-key",
        metavar="KEY",
        default=DEFAULT_PUBLIC_KEY,
        help=f"accepted public key (default {DEFAULT_PUBLIC_KEY})",
    )
    serve.add_argument(
        "--secret-key",
        metavar="KEY",
        default=DEFAULT_SECRET_KEY,
        help=f"accepted secret key (default {DEFAULT_SECRET_KEY})",
    )
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
        description="Print recent traces as indented trees (or JSON), newest first.",
    )
    traces.add_argument(
        "--db", metavar="PATH", default=_DEFAULT_DB, help=f"SQLite file (default ./{_DEFAULT_DB})"
    )
    traces.add_argument(
        "--limit", metavar="N", type=int, default=10, help="how many traces (default 10)"
    )
    traces.add_argument("--name", metavar="NAME", help="only traces with this name")
    traces.add_argument("--user", metavar="ID", help="only traces of this user id")
    traces.add_argument("--session", metavar="ID", help="only traces of this session id")
    traces.add_argument("--trace-id", metavar="ID", help="only the trace with this id")
    output = traces.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help="print the traces as a JSON array (the API's TraceWithFullDetails shape)",
    )
    output.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the input and output of each trace and observation",
    )

    commands.add_parser(
        "demo",
        help=(
            "trace a small async service into an embedded collector and print what arrived "
            "(--remote sends to the server LANGFUSE_* names; see demo --help)"
        ),
        add_help=False,
    )
    return parser


def _tune_serving_process() -> None:
    """Settings for a process that is the collector's own (``serve``), made once it started.

    The collector's threads beside the event loop (the work thread's checks, the store's
    calls to its process) take the GIL too: a short switch interval lets the loop answer
    (health checks above all) within milliseconds while they work. And everything loaded by
    then (modules, the app, the schema) lives as long as the process: frozen out of the cycle
    collector's full passes, which otherwise scan it all, a 15-20 ms pause of every thread
    now and then during ingest.
    """
    sys.setswitchinterval(0.0005)
    gc.freeze()


async def _serve(args: argparse.Namespace) -> int:
    from ._collector import Collector, shown_secret_key

    collector = Collector(
        db_path=args.db,
        public_key=args.public_key,
        secret_key=args.secret_key,
        mode=args.mode,
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        # Parsing runs in a process of its own: beside the event loop, not in turns with it.
        work_processes=1,
        # It runs for days: no set of every accepted event's id growing meanwhile.
        track_events=False,
    )
    database = os.path.abspath(args.db)  # noqa: ASYNC240 (a string operation, no I/O)
    await collector.start()
    _tune_serving_process()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    secret = shown_secret_key(args.secret_key)
    print(
        f"langfuse-async collector listening on {collector.url}"
        f" (Langfuse {collector.version}, mode {args.mode})\n"
        f"  web view: {collector.url}/\n"
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


#: The most traces ``traces --limit`` reads.
_MAX_TRACES = 2**62


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _traces(args: argparse.Namespace) -> int:
    from ._collector._render import TraceFilter, render_store, store_json
    from ._collector._store import ForeignDatabase, Store

    if args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    for option, value in (
        ("--name", args.name),
        ("--user", args.user),
        ("--session", args.session),
        ("--trace-id", args.trace_id),
    ):
        if value is not None and not _encodable(value, "utf-8"):
            # Bytes the locale could not decode (surrogate escapes): no stored text equals it.
            print(f"error: {option} is not valid UTF-8 text", file=sys.stderr)
            return 2
    if not os.path.exists(args.db):
        print(
            f"error: no database at {args.db} (start `langfuse-async serve` first)", file=sys.stderr
        )
        return 1
    try:
        # Opened as it is: a read must never add tables to, or re-journal, someone's file.
        store = Store(args.db, create=False)
    except ForeignDatabase as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(f"error: cannot read database {args.db}: {exc}", file=sys.stderr)
        return 1
    where = TraceFilter(
        name=args.name, user_id=args.user, session_id=args.session, trace_id=args.trace_id
    )
    # More than any database holds, and still an integer SQLite takes.
    limit = min(args.limit, _MAX_TRACES)
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        if args.json:
            text = store_json(store, limit=limit, where=where)
            if not _encodable(text, encoding):
                text = store_json(store, limit=limit, where=where, ascii_only=True)
        else:
            ascii_only = "utf" not in encoding.lower()
            text = render_store(
                store, limit=limit, ascii_only=ascii_only, where=where, verbose=args.verbose
            )
            # Names and values the output cannot encode (a pipe on a cp1252 or ASCII locale)
            # are shown as escapes rather than ending the command with a traceback.
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        print(text)
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
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _OneLineHttpErrors) for f in server_log.filters):
        server_log.addFilter(_OneLineHttpErrors())
    try:
        return asyncio.run(_serve(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.Error as exc:
        print(f"error: cannot open database {args.db}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
