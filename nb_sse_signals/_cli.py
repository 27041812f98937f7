"""``nb-sse-signals``: the command line. ``serve`` runs the standalone server in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._errors import BackplaneError
from ._limits import Limits
from ._protocol import ENV_REDIS_URL, ENV_SECRET, ENV_TOKEN, EVENTS_PATH
from ._server import Server

if TYPE_CHECKING:  # imported when used: it needs the optional `redis` package
    from ._redis import RedisBackplane


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nb-sse-signals", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the standalone signals server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    token = serve.add_mutually_exclusive_group()
    token.add_argument(
        "--token-file",
        metavar="PATH",
        default=None,
        help=f"read the subscriber token from this file (default: ${ENV_TOKEN}, else a random one)",
    )
    token.add_argument(
        "--token",
        default=None,
        help="subscriber token on the command line: other users see it in `ps`; "
        "prefer --token-file or the environment",
    )
    serve.add_argument(
        "--publish-secret-file",
        metavar="PATH",
        default=None,
        help=(
            "read the publish secret from this file, so that hubs behind one load balancer "
            f"share it (default: ${ENV_SECRET}, else a random one)"
        ),
    )
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without a subscriber token (loopback only; anyone on this machine can read)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="publish demo signals and serve a live page at /"
    )
    limits = serve.add_argument_group("limits (docs/security.md)")
    for field in dataclasses.fields(Limits):
        if field.name == "depth":
            continue  # fixed by what the JSON encoders can write
        limits.add_argument(
            "--max-" + field.name.replace("_", "-"),
            dest=field.name,
            type=float if field.type == "float" else int,
            default=field.default,
            metavar="N",
            help=f"default {field.default:,}",
        )
    redis = serve.add_argument_group("Redis backplane (shares signals with other hubs)")
    redis.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get(ENV_REDIS_URL) or None,
        help=f"redis://[:password@]host:port/db or rediss:// (default: ${ENV_REDIS_URL})",
    )
    redis.add_argument("--redis-prefix", default=None, help="key prefix (nb_sse_signals:)")
    redis.add_argument("--redis-maxlen", type=int, default=None, help="stream entries kept")
    redis.add_argument("--redis-ttl", type=int, default=None, help="seconds kept after a change")
    redis.add_argument(
        "--redis-commit-threads",
        type=int,
        default=None,
        help="commits that may wait for Redis at once (8)",
    )
    return parser


def _publish_secret(args: argparse.Namespace) -> tuple[str | None, str]:
    """The publish secret (None: make a random one) and where it came from.

    From a file or the environment, never the command line, where other users of the
    machine could read it (``ps``)."""
    if args.publish_secret_file is not None:
        try:
            with open(args.publish_secret_file, encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as exc:
            raise ValueError(f"cannot read --publish-secret-file: {exc}") from None
        if not secret:
            raise ValueError(
                f"expected a publish secret in {args.publish_secret_file}, got an empty file"
            )
        return secret, args.publish_secret_file
    secret = os.environ.get(ENV_SECRET, "").strip()
    if secret:
        return secret, f"${ENV_SECRET}"
    return None, ""


def _limits(args: argparse.Namespace) -> Limits:
    names = [f.name for f in dataclasses.fields(Limits) if f.name != "depth"]
    return Limits(**{name: getattr(args, name) for name in names})


def _backplane(args: argparse.Namespace) -> RedisBackplane | None:
    if not args.redis:
        return None
    try:
        from ._redis import RedisBackplane
    except ImportError:
        raise SystemExit(
            "nb-sse-signals: --redis needs the redis package: pip install 'nb_sse_signals[redis]'"
        ) from None
    options: dict[str, Any] = {
        key: value
        for key, value in (
            ("prefix", args.redis_prefix),
            ("maxlen", args.redis_maxlen),
            ("ttl", args.redis_ttl),
            ("commit_threads", args.redis_commit_threads),
        )
        if value is not None
    }
    try:
        return RedisBackplane(args.redis, **options)
    except ValueError as exc:
        raise SystemExit(f"nb-sse-signals: {exc}") from None


def _token(args: argparse.Namespace) -> tuple[str | None, str]:
    """The subscriber token (None: make a random one) and where it came from."""
    if args.no_auth:
        return "", "--no-auth"
    if args.token_file is not None:
        try:
            with open(args.token_file, encoding="utf-8") as file:
                token, source = file.read().strip(), f"--token-file {args.token_file}"
        except OSError as exc:
            raise ValueError(f"expected a readable --token-file, got {exc}") from None
    elif args.token is not None:
        token, source = args.token, "--token"
        if token:
            logging.getLogger("nb_sse_signals").warning(
                "nb_sse_signals: --token is visible to every user of this machine (`ps`); "
                "use --token-file or $%s instead",
                ENV_TOKEN,
            )
    elif (from_env := os.environ.get(ENV_TOKEN)) is not None:
        token, source = from_env, f"${ENV_TOKEN}"
    else:
        return None, ""
    if not token:
        raise ValueError(
            f"expected a non-empty token from {source}; to serve with no token at all, "
            "say --no-auth (loopback only)"
        )
    return token, source


async def _serve(args: argparse.Namespace) -> None:
    token, source = _token(args)
    secret, secret_from = _publish_secret(args)
    server = await Server(
        host=args.host,
        port=args.port,
        token=token,
        no_auth=args.no_auth,
        publish_secret=secret,
        demo=args.demo,
        limits=_limits(args),
        backplane=_backplane(args),
    ).start_async()
    # SIGTERM (a service manager, `kill`) ends streams cleanly, as Ctrl-C does.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # A long-running server: what start-up made lives as long as the process, so keep
    # it out of every later full collection (shorter pauses while fanning out).
    gc.freeze()
    # Printed, not logged: this is the command's output, what the user copies.
    out = sys.stdout
    out.write(f"nb_sse_signals serving at {server.url}\n")
    # A token or secret the user gave is theirs already: not echoed into the output
    # (a terminal's scrollback, its logs).
    shown = "(none: --no-auth)" if args.no_auth else f"(from {source})" if source else server.token
    out.write(f"  subscriber token: {shown}\n")
    shown = f"(from {secret_from})" if secret_from else server.publish_secret
    out.write(f"  publish secret:   {shown}\n")
    if server.backplane is not None:
        out.write(f"  shared through:   Redis, epoch {server.hub.epoch}\n")
    if args.demo:
        token = "<the token>" if source else server.token
        page = f"{server.url}?token={token}" if token else server.url
        out.write(f"  open the demo:    {page}\n")
        out.write(
            f"  or: curl -N -H 'Authorization: token {token}' "
            f"'{server.url}{EVENTS_PATH}?signal=count&signal=readings'\n"
        )
    out.flush()
    try:
        await stop.wait()
    finally:
        await server.stop_async()


class _Formatter(logging.Formatter):
    """``name: message``, but our own messages name the package already (they must
    where no formatter adds it: a kernel's stderr, Jupyter's log), so once."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        prefix = record.name.partition(".")[0] + ": "
        return text if text.startswith(prefix) else f"{record.name}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except BackplaneError as exc:
        sys.stderr.write(f"nb-sse-signals: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"nb-sse-signals: cannot serve on {args.host}:{args.port}: {exc}\n")
        return 1
    except ValueError as exc:
        sys.stderr.write(f"nb-sse-signals: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
