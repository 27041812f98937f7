"""The Jupyter server extension: the hub and its handlers under the server's ``base_url``.

Enabled by ``pip install`` alone (``etc/jupyter/jupyter_server_config.d/
nb_sse_signals.json`` in the wheel). Subscribers use Jupyter's own auth
(cookie or token; none gets 403). Kernels started by this server find it through
environment variables set here, which every kernel inherits: the server's
loopback URL and a publish secret made per server start.

Options (traitlets, in ``jupyter_server_config.py``): ``c.SignalsExtension.redis_url``
and friends (below) share the hub's signals with other servers through Redis; the
URL may also come from ``NB_SSE_SIGNALS_REDIS_URL``, which the extension then takes
out of the environment: kernels inherit it, and they need no Redis credential.
Under JupyterHub (``JUPYTERHUB_USER``) the keys live in that user's namespace
(``tenant_prefix``) unless ``redis_namespace`` names a shared one.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable
from typing import Any

import traitlets
from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from traitlets import Float, Int, Unicode, default
from traitlets.config import Configurable

from ._backplane import DEFAULT_MAXLEN, DEFAULT_PREFIX, DEFAULT_TTL, tenant_prefix
from ._handlers import EventsHandler, SnapshotHandler
from ._hub import SignalHub
from ._limits import CONNECTION_LIMITS, Limits
from ._protocol import (
    ENV_BASE_URL,
    ENV_REDIS_URL,
    ENV_SECRET,
    ENV_URL,
    EVENTS_PATH,
    PUBLISH_PATH,
    SNAPSHOT_PATH,
)
from ._publish_endpoint import PublishHandler

AUTH_RESOURCE = "nb_sse_signals"


class _JupyterAuth(APIHandler):
    """Jupyter's user and authorizer decide (kernels of this server may read with the secret)."""

    auth_resource = AUTH_RESOURCE

    async def authorize(self) -> bool:
        if self.has_publish_secret():  # type: ignore[attr-defined]  # from SignalsHandler
            return True
        user = self.current_user
        if not user:
            return False
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, "read", AUTH_RESOURCE)
        )
        return bool(allowed)


class JupyterEventsHandler(EventsHandler, _JupyterAuth):
    """The SSE stream, behind Jupyter's auth."""

    # SignalsHandler comes first in the MRO (its plumbing wins), except for this.
    authorize = _JupyterAuth.authorize


class JupyterSnapshotHandler(SnapshotHandler, _JupyterAuth):
    """Snapshots, behind Jupyter's auth."""

    authorize = _JupyterAuth.authorize


class BackplaneOptions(Configurable):
    """The Redis backplane's options, as ``c.SignalsExtension.redis_url`` etc.

    A plain ``Configurable`` read from the server's config when the extension loads,
    not an ``ExtensionApp``: the extension has no app, page or command of its own.
    """

    redis_url = Unicode(
        help=(
            "Share signals with other hubs through this Redis: redis://[:password@]host:port/db"
            f" or rediss:// (TLS). Empty: this server's hub alone. Default: ${ENV_REDIS_URL}."
        )
    ).tag(config=True)
    redis_prefix = Unicode(DEFAULT_PREFIX, help="Prefix of every Redis key.").tag(config=True)
    redis_namespace = Unicode(
        "",
        help=(
            "A named namespace shared by every server configured with it, whoever runs them:"
            " they all read, change and close each other's signals (one trust domain)."
            " Empty: under JupyterHub, the namespace of $JUPYTERHUB_USER (that user's"
            " servers only); else the prefix alone."
        ),
    ).tag(config=True)
    redis_maxlen = Int(DEFAULT_MAXLEN, help="Changes kept in the Redis stream.").tag(config=True)
    redis_ttl = Int(DEFAULT_TTL, help="Seconds a signal stays in Redis after its last change.").tag(
        config=True
    )
    redis_commit_threads = Int(
        8,
        help=(
            "Threads of the backplane's own that publishers' changes wait for Redis in"
            " (never the server's event loop): how many may wait at once."
        ),
    ).tag(config=True)

    orphan_grace = Float(
        10.0,
        help=(
            "Seconds after a publisher's connection drops before its signals are closed"
            " (they show stale meanwhile). A kernel's signals stay stale while the kernel"
            " exists (it was restarted), and close once it is shut down."
        ),
    ).tag(config=True)

    @default("redis_url")
    def _redis_url_from_environment(self) -> str:
        return os.environ.get(ENV_REDIS_URL, "")

    def key_prefix(self) -> str:
        """Where this server's signals live in Redis (see ``tenant_prefix``)."""
        user = os.environ.get("JUPYTERHUB_USER", "")
        return tenant_prefix(self.redis_prefix, user=user, shared=self.redis_namespace)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nb_sse_signals"}]


def _limit_trait(field: dataclasses.Field[Any]) -> Any:
    kind = traitlets.Float if field.type == "float" else traitlets.Int
    default: Any = field.default
    return kind(default, help=f"Limit: {field.name.replace('_', ' ')}").tag(config=True)


# The extension's options: ``c.SignalsExtension.<option> = ...`` in a Jupyter config
# file (or ``--SignalsExtension.<option>=...``): the backplane's, and one per field of
# Limits, so the limits' defaults and meaning live in one place (_limits, security.md).
SignalsExtension: type[BackplaneOptions] = type(
    "SignalsExtension",
    (BackplaneOptions,),
    {
        "__doc__": "nb_sse_signals' server extension: its Redis backplane and its limits.",
        **{
            f.name: _limit_trait(f)
            for f in dataclasses.fields(Limits)
            if f.name not in CONNECTION_LIMITS
        },
    },
)


def _limits(options: Any) -> Limits:
    values = {
        f.name: getattr(options, f.name)
        for f in dataclasses.fields(Limits)
        if f.name not in CONNECTION_LIMITS
    }
    return Limits(**values)


def _kernel_scope(serverapp: Any) -> Callable[[str], str | None]:
    """The scope of a signal's key if it is a kernel's this server still has:
    ``k-<first 12 hex of its id>`` of ``k-<...>/name`` (``_signal.default_scope``);
    else None."""

    def scope_of(name: str) -> str | None:
        scope, slash, _ = name.partition("/")
        if not slash or not scope.startswith("k-"):
            return None
        prefix = scope[2:]
        try:
            ids = serverapp.kernel_manager.list_kernel_ids()
        except Exception:  # no kernel manager (a bare server app): no kernel's
            return None
        return scope if any(str(k).replace("-", "")[:12] == prefix for k in ids) else None

    return scope_of


def _kernel_lives(serverapp: Any) -> Callable[[str], bool]:
    """Whether a signal's key is in the scope of a kernel this server still has. A
    restarted kernel keeps its id, so its signals stay stale (not closed) until it runs
    its cell again."""
    scope_of = _kernel_scope(serverapp)
    return lambda name: scope_of(name) is not None


def _load_jupyter_server_extension(serverapp: Any) -> None:
    options: Any = SignalsExtension(config=serverapp.config)
    # Read (the trait's default) before it goes: every kernel started from now on
    # inherits os.environ, and a kernel never needs Redis, let alone its password.
    redis_url = options.redis_url
    os.environ.pop(ENV_REDIS_URL, None)
    # A kernel's signals share one signals_per_publisher quota across its connections:
    # the orphans kept while it lives would otherwise escape it at every reconnect.
    hub = SignalHub(limits=_limits(options), quota_scope=_kernel_scope(serverapp))
    if redis_url:
        from ._redis import RedisBackplane  # needs the optional `redis` package

        backplane = RedisBackplane(
            redis_url,
            prefix=options.key_prefix(),
            maxlen=options.redis_maxlen,
            ttl=options.redis_ttl,
            commit_threads=options.redis_commit_threads,
        ).start(hub)
        serverapp.web_app.settings["nb_sse_signals_backplane"] = backplane
        serverapp.log.info(
            "nb_sse_signals: signals shared through Redis under %r, epoch %s",
            options.key_prefix(),
            hub.epoch,
        )
    secret = secrets.token_urlsafe(32)
    base_url = serverapp.web_app.settings["base_url"]
    subscriber = {"hub": hub, "publish_secret": secret}
    serverapp.web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, EVENTS_PATH), JupyterEventsHandler, subscriber),
            (
                url_path_join(base_url, SNAPSHOT_PATH),
                JupyterSnapshotHandler,
                subscriber,
            ),
            (
                url_path_join(base_url, PUBLISH_PATH),
                PublishHandler,
                {
                    "hub": hub,
                    "secret": secret,
                    "orphan_grace": options.orphan_grace,
                    "keep_orphan": _kernel_lives(serverapp),
                },
            ),
        ],
    )
    serverapp.web_app.settings["nb_sse_signals_hub"] = hub
    os.environ[ENV_SECRET] = secret
    os.environ[ENV_BASE_URL] = base_url

    def announce() -> None:
        # Runs once the loop starts, after the HTTP server bound its final port
        # (extensions load before that, and the port may move on a clash).
        scheme = "https" if serverapp.certfile else "http"
        host = "[::1]" if ":" in (serverapp.ip or "") else "127.0.0.1"
        os.environ[ENV_URL] = f"{scheme}://{host}:{serverapp.port}{base_url}"

    announce()
    serverapp.io_loop.add_callback(announce)
    serverapp.log.info("nb_sse_signals: signals at %s%s", base_url, EVENTS_PATH)
