"""``nb-sse-signals``: the command line. ``serve`` runs the standalone server in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Sequence

from ._protocol import EVENTS_PATH
from ._server import Server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nb-sse-signals", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the standalone signals server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    serve.add_argument("--token", default=None, help="subscriber token (default: a random one)")
    serve.add_argument(
        "--demo", action="store_true", help="publish demo signals and serve a live page at /"
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    server = await Server(
        host=args.host, port=args.port, token=args.token, demo=args.demo
    ).start_async()
    # A long-running server: what start-up made lives as long as the process, so keep
    # it out of every later full collection (shorter pauses while fanning out).
    gc.freeze()
    # Printed, not logged: this is the command's output, what the user copies.
    out = sys.stdout
    out.write(f"nb_sse_signals serving at {server.url}\n")
    out.write(f"  subscriber token: {server.token}\n")
    out.write(f"  publish secret:   {server.publish_secret}\n")
    if args.demo:
        out.write(f"  open the demo:    {server.page_url}\n")
        out.write(
            f"  or: curl -N -H 'Authorization: token {server.token}' "
            f"'{server.url}{EVENTS_PATH}?signal=count&signal=readings'\n"
        )
    out.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop_async()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        sys.stderr.write(f"nb-sse-signals: cannot serve on {args.host}:{args.port}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
