"""AWS Lambda face: a handler that spawns the child once, in the init phase, and reuses it for every invocation.

Two ways to use it:

- In your own handler module::

      from stdiobridge.aws_lambda import make_handler
      handler = make_handler(["./app"], codec="lines")   # runs at init: the child starts now

- With no Python of your own: set the function's Handler to
  ``stdiobridge.aws_lambda.handler`` and configure it from the environment:
  ``STDIOBRIDGE_CONFIG`` (a TOML file; relative paths are taken from
  ``LAMBDA_TASK_ROOT``), or ``STDIOBRIDGE_COMMAND`` + ``STDIOBRIDGE_CODEC`` (a
  relative command like ``./app`` is taken from ``LAMBDA_TASK_ROOT`` too), or a
  ``stdiobridge.toml`` at the root of the deployment package. The handler's own
  options: ``STDIOBRIDGE_LAMBDA_RESPONSE`` (``json`` or ``text``),
  ``STDIOBRIDGE_LAMBDA_MARGIN`` (seconds), ``STDIOBRIDGE_LAMBDA_WARMUP`` (the
  JSON text of an event sent once during init, so that the child's own start-up
  is paid there and not by the first invocation). These are checked by the
  same parser as a config file's ``[lambda]`` table. The child is spawned at
  import only when ``_HANDLER`` (Lambda's Handler setting) names this handler;
  any other import (your own handler module, a test run) starts nothing.

Each invocation sends ``{"event": event, "context": {...}}`` (see
``context_fields``): as the value itself on ``jsonl``/``msgpack``, as its JSON text
on ``lines``, as its JSON bytes on ``lenprefix`` (and likewise on plugin codecs
by their ``kind``). The answer comes back as is on the structured codecs and as
text on ``lines``/``lenprefix`` (``response="json"`` parses it). Both mappings
can be replaced. Every call is bounded by the invocation's remaining time minus
``margin`` (default 0.5 s, see ``DEFAULT_MARGIN``), so a stuck child ends as a clean
``CallTimeout`` before Lambda kills the whole environment. Then, untagged, the
child is replaced for the next invocation (answers are paired by order, so its
late answer could be taken for the next one); with ``tagged`` (``tagged=True``,
``tagged = true`` in the config, or ``STDIOBRIDGE_TAGGED=1``) the call's id is
abandoned and the same child serves the next invocation, its late answer dropped
and counted in ``bridge.stats.late``: no start-up (a Racket binary: 0.1-0.5 s)
paid inside an invocation. A child that died between invocations is replaced
before the next request is written. Errors are the bridge's typed exceptions, so Lambda
reports ``errorType`` as ``CallTimeout``, ``ChildExited``, ``ProtocolError``...
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from .bridge import Bridge
from .codecs import Codec, CodecSpec
from .config import ENV_PREFIX, Settings, load_config
from .config import _validate_lambda as validate_lambda_options
from .errors import CallTimeout, ConfigError, DecodeError, EncodeError, excerpt_of

__all__ = [
    "DEFAULT_MARGIN",
    "HANDLER_NAME",
    "NO_WARMUP",
    "LambdaContext",
    "LambdaHandler",
    "RequestMapper",
    "ResponseMapper",
    "context_fields",
    "default_request",
    "default_response",
    "environment_configured",
    "handler",
    "handler_options_from_environment",
    "make_handler",
    "settings_from_environment",
]

log = logging.getLogger("stdiobridge.aws_lambda")

#: Seconds kept free before the invocation's deadline: a timed-out child is killed and
#: reaped in milliseconds, and the error is reported well before Lambda's own timeout.
#: A fixed 0.5 s (not a share of the remaining time) so that long functions do not
#: waste tens of seconds and 1-second functions still get half of theirs.
DEFAULT_MARGIN = 0.5

#: The Lambda Handler setting that uses the environment-configured ``handler`` below.
HANDLER_NAME = "stdiobridge.aws_lambda.handler"

_CONTEXT_ATTRS = (
    "aws_request_id",
    "function_name",
    "function_version",
    "invoked_function_arn",
    "log_group_name",
    "log_stream_name",
)


class LambdaContext(Protocol):
    """What the handler needs of Lambda's context object (awslambdaric's ``LambdaContext`` has it)."""

    def get_remaining_time_in_millis(self) -> int: ...


RequestMapper = Callable[[Any, Any], Any]
ResponseMapper = Callable[[Any], Any]


class _Unset:
    """The type of ``NO_WARMUP``: no warm-up event (``None`` is a valid event, JSON null)."""

    def __repr__(self) -> str:
        return "NO_WARMUP"


NO_WARMUP = _Unset()


def context_fields(context: Any) -> dict[str, Any] | None:
    """The useful, JSON-safe fields of a Lambda context, plus ``deadline_ms`` (absolute epoch milliseconds).

    ``None`` for ``None`` (a local call without a context); attributes the
    context lacks are ``None``; ``memory_limit_in_mb`` is an integer.
    """
    if context is None:
        return None
    fields: dict[str, Any] = {name: getattr(context, name, None) for name in _CONTEXT_ATTRS}
    memory = getattr(context, "memory_limit_in_mb", None)
    try:
        fields["memory_limit_in_mb"] = None if memory is None else int(memory)
    except (TypeError, ValueError):
        fields["memory_limit_in_mb"] = memory
    remaining_of = getattr(context, "get_remaining_time_in_millis", None)
    remaining = int(remaining_of()) if callable(remaining_of) else None
    deadline = getattr(context, "_epoch_deadline_time_in_ms", None)  # awslambdaric's exact deadline
    if not isinstance(deadline, int) or isinstance(deadline, bool):
        deadline = None if remaining is None else time.time_ns() // 1_000_000 + remaining
    fields["remaining_time_in_millis"] = remaining
    fields["deadline_ms"] = deadline
    return fields


def _envelope(event: Any, context: Any) -> dict[str, Any]:
    """The request map every built-in mapping sends: the event and the context's fields."""
    return {"event": event, "context": context_fields(context)}


def _json_bytes(value: Any) -> bytes:
    """``value`` as compact JSON bytes; an unencodable value is an ``EncodeError`` (nothing sent)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise EncodeError(f"the Lambda request cannot be written as JSON: {exc}") from None


def _kind(codec: Codec[Any]) -> str:
    """What the codec's messages are: ``"text"`` (lines), ``"bytes"`` (lenprefix) or ``"json"`` (values)."""
    return str(getattr(codec, "kind", "json"))


def default_request(codec: Codec[Any]) -> RequestMapper:
    """The built-in request mapping: JSON text on text codecs (lines), JSON bytes on bytes codecs (lenprefix), else the map."""
    kind = _kind(codec)
    if kind == "text":
        return lambda event, context: _json_bytes(_envelope(event, context)).decode()
    if kind == "bytes":
        return lambda event, context: _json_bytes(_envelope(event, context))
    return _envelope


def _as_text(message: Any) -> Any:
    """A text answer: ``str`` as is, bytes decoded as UTF-8 (strictly), anything else as is."""
    if isinstance(message, (bytes, bytearray, memoryview)):
        data = bytes(message)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(
                f"the child's answer is not UTF-8 text ({exc.reason} at byte {exc.start}): {excerpt_of(data)!r}; "
                "return bytes as base64, or pass response=... to map them",
                excerpt=excerpt_of(data),
            ) from None
    return message


def _parse_json(message: Any) -> Any:
    """A JSON answer: text or bytes parsed (``DecodeError`` if it is not JSON); structured values as is."""
    if isinstance(message, (str, bytes, bytearray, memoryview)):
        data = message if isinstance(message, str) else bytes(message)
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raw = data.encode() if isinstance(data, str) else data
            raise DecodeError(
                f"response='json' but the child's answer is not JSON ({exc}): {excerpt_of(raw)!r}",
                excerpt=excerpt_of(raw),
            ) from None
    return message


def _to_text(message: Any) -> str:
    """``response="text"``: always a string (bytes decoded, structured values as JSON text)."""
    text = _as_text(message)
    return text if isinstance(text, str) else _json_bytes(text).decode()


def default_response(codec: Codec[Any], mode: Literal["json", "text"] | None = None) -> ResponseMapper:
    """The built-in answer mapping: text on ``lines``/``lenprefix`` (``mode="json"`` parses it), else as is."""
    if mode == "json":
        return _parse_json
    if mode == "text":
        return _to_text
    if mode is not None:
        raise ConfigError(f"response must be 'json', 'text', a callable or None; got {mode!r}")
    if _kind(codec) in ("text", "bytes"):
        return _as_text
    return lambda message: message


class LambdaHandler:
    """A Lambda handler bound to one persistent child: ``handler(event, context) -> result``.

    ``bridge`` is the started ``Bridge`` (its ``pid`` and ``stats`` are there);
    ``margin`` the seconds kept free before the deadline; ``close()`` stops the child.
    """

    def __init__(
        self,
        bridge: Bridge,
        *,
        request: RequestMapper | None = None,
        response: ResponseMapper | Literal["json", "text"] | None = None,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
            raise ConfigError(f"margin must be a number of seconds >= 0; got {margin!r}")
        if request is not None and not callable(request):
            raise ConfigError(f"request must be a callable (event, context) -> message; got {request!r}")
        self.bridge = bridge
        self.margin = float(margin)
        self.map_request: RequestMapper = request if request is not None else default_request(bridge.codec)
        self.map_response: ResponseMapper = response if callable(response) else default_response(bridge.codec, response)

    @property
    def pid(self) -> int | None:
        """The current child's pid (it changes when a child is replaced)."""
        return self.bridge.pid

    def _own_limit(self) -> float | None:
        """The bridge's own limit for the next call: ``startup_timeout`` for a child yet to answer, else ``timeout``."""
        return self.bridge.next_call_timeout

    def call_timeout(self, context: Any) -> float | None:
        """Seconds this invocation's call may take: remaining time minus ``margin``, capped by the bridge's limit.

        Raises ``CallTimeout`` at once (nothing sent, the child kept) when no
        more than ``margin`` remains. Without a context: ``None`` (the bridge's
        own ``timeout``/``startup_timeout`` apply).
        """
        remaining_of = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(remaining_of):
            return None
        remaining = float(remaining_of()) / 1000.0
        budget = remaining - self.margin
        if budget <= 0:
            raise CallTimeout(
                f"only {remaining:.3f} s of the invocation remain, not more than the margin of {self.margin:g} s: "
                "the request was not sent (raise the function's timeout, or lower margin=)"
            )
        limit = self._own_limit()
        return budget if limit is None else min(limit, budget)

    def __call__(self, event: Any, context: Any = None) -> Any:
        """Handle one invocation: map the event, call the child within the deadline, map its answer."""
        timeout = self.call_timeout(context)
        message = self.map_request(event, context)
        try:
            answer = self.bridge.call(message, timeout=timeout)
        except CallTimeout as err:
            limit = self._own_limit()
            if timeout is not None and (limit is None or timeout < limit) and err.args:
                err.args = (
                    f"{err.args[0]}\n(the limit was the invocation's remaining time minus margin={self.margin:g} s)",
                )
            raise
        return self.map_response(answer)

    def close(self) -> None:
        """Stop the child (EOF, SIGTERM, SIGKILL). Lambda itself never needs this."""
        self.bridge.close()

    def __repr__(self) -> str:
        return f"<LambdaHandler {self.bridge!r} margin={self.margin:g}>"


def _task_root(env: Mapping[str, str]) -> Path | None:
    """``LAMBDA_TASK_ROOT`` (the unpacked deployment package), when set."""
    root = env.get("LAMBDA_TASK_ROOT")
    return Path(root) if root else None


def environment_configured(env: Mapping[str, str] | None = None) -> bool:
    """True when the environment says what to run: ``STDIOBRIDGE_CONFIG``/``_COMMAND`` or a task-root TOML."""
    env = os.environ if env is None else env
    if env.get(f"{ENV_PREFIX}CONFIG") or env.get(f"{ENV_PREFIX}COMMAND"):
        return True
    root = _task_root(env)
    return root is not None and (root / "stdiobridge.toml").is_file()


def settings_from_environment(env: Mapping[str, str] | None = None) -> Settings:
    """Settings for the environment-configured handler, relative paths taken from ``LAMBDA_TASK_ROOT``."""
    env = os.environ if env is None else env
    root = _task_root(env)
    source: Path | dict[str, Any]
    named = env.get(f"{ENV_PREFIX}CONFIG")
    if named:
        path = Path(named)
        source = root / path if root is not None and not path.is_absolute() else path
    elif root is not None and (root / "stdiobridge.toml").is_file():
        source = root / "stdiobridge.toml"
    elif env.get(f"{ENV_PREFIX}COMMAND"):
        source = {}  # the command (and codec, timeout) come from the environment overrides
    else:
        raise ConfigError(
            f"the Lambda handler {HANDLER_NAME!r} is not configured: set {ENV_PREFIX}CONFIG to a TOML file "
            f"(relative to LAMBDA_TASK_ROOT), or {ENV_PREFIX}COMMAND (e.g. ./app) and {ENV_PREFIX}CODEC "
            "(lines, jsonl, lenprefix or msgpack), or put a stdiobridge.toml at the root of the deployment package"
        )
    settings = load_config(source, env=env)
    program = settings.command[0]
    if root is not None and "/" in program and not os.path.isabs(program):
        spec = settings.spec.replace(command=(str(root / program), *settings.command[1:]))
        settings = dataclasses.replace(settings, spec=spec)
    return settings


def _route_child_stderr() -> None:
    """Under Lambda, let the child's stderr (logger ``stdiobridge.child``, INFO) reach CloudWatch.

    awslambdaric leaves the root logger at WARNING; unless the function sets
    ``AWS_LAMBDA_LOG_LEVEL`` or the logger already has a level, ours is set to INFO.
    """
    if "AWS_LAMBDA_RUNTIME_API" not in os.environ or "AWS_LAMBDA_LOG_LEVEL" in os.environ:
        return
    child_log = logging.getLogger("stdiobridge.child")
    if child_log.level == logging.NOTSET:
        child_log.setLevel(logging.INFO)


def make_handler(
    command: str | Sequence[str] | None = None,
    *,
    codec: CodecSpec | None = None,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    request: RequestMapper | None = None,
    response: ResponseMapper | Literal["json", "text"] | None = None,
    margin: float | None = None,
    warmup: Any = NO_WARMUP,
    **bridge_options: Any,
) -> LambdaHandler:
    """Start the child now (call this at module level: Lambda's init phase) and return the invocation handler.

    ``command=None``: command and options come from ``load_config(config)`` (a
    TOML path or a mapping), or with ``config=None`` from the environment as for
    the ready-made ``handler``. ``codec`` (default ``"lines"``, or the
    configuration's) and ``bridge_options`` (``timeout``, ``tagged``, ``env``,
    ``stderr``...) override the configuration; ``tagged=True`` keeps the child
    after a timed-out invocation (see the module's doc). ``request(event, context) -> message`` and
    ``response(message) -> result`` (or ``"json"``/``"text"``) replace the
    built-in mappings; ``margin``: seconds kept free before the deadline
    (default ``DEFAULT_MARGIN``). ``warmup``: an event handled once now
    (context ``None``, answer discarded), so that a slow-starting child (a
    Racket binary: ~0.3-0.5 s) is ready before the first invocation; its failure
    fails the init. With a configuration, its ``[lambda]`` table gives
    ``response``, ``margin`` and ``warmup`` when they are not passed here.
    """
    if command is None:
        settings = settings_from_environment() if config is None else load_config(config)
        table = settings.lambda_options
        response = response if response is not None else table.get("response")
        margin = margin if margin is not None else table.get("margin")
        warmup = warmup if warmup is not NO_WARMUP else table.get("warmup", NO_WARMUP)
        options = settings.bridge_options()
        if codec is not None:
            options["codec"] = codec
        options.update(bridge_options)
        bridge = Bridge(settings.command, **options)
    else:
        if config is not None:
            raise ConfigError("give make_handler a command or a config, not both")
        bridge = Bridge(command, codec="lines" if codec is None else codec, **bridge_options)
    lambda_handler = LambdaHandler(
        bridge, request=request, response=response, margin=DEFAULT_MARGIN if margin is None else margin
    )
    _route_child_stderr()
    bridge.start()
    if warmup is not NO_WARMUP:
        started = time.perf_counter()
        try:
            lambda_handler(warmup, None)
        except BaseException:
            bridge.close()
            raise
        log.info("warm-up answered in %.1f ms", (time.perf_counter() - started) * 1000)
    return lambda_handler


def handler_options_from_environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``response``, ``margin`` and ``warmup`` for ``make_handler`` from ``STDIOBRIDGE_LAMBDA_*``.

    The values are checked by the same parser as a config file's ``[lambda]``
    table, so both accept exactly the same values (``response`` is ``json`` or ``text``).
    """
    env = os.environ if env is None else env
    table: dict[str, Any] = {}
    response = env.get(f"{ENV_PREFIX}LAMBDA_RESPONSE", "").strip()
    if response:
        table["response"] = response
    margin = env.get(f"{ENV_PREFIX}LAMBDA_MARGIN", "").strip()
    if margin:
        try:
            table["margin"] = float(margin)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}LAMBDA_MARGIN must be seconds (e.g. 0.5); got {margin!r}") from None
    warmup = env.get(f"{ENV_PREFIX}LAMBDA_WARMUP")
    if warmup is not None and warmup.strip():
        try:
            table["warmup"] = orjson.loads(warmup)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{ENV_PREFIX}LAMBDA_WARMUP must be the JSON text of an event ({exc})") from None
    return validate_lambda_options(table, f"the environment ({ENV_PREFIX}LAMBDA_*)")


class _EnvironmentHandler:
    """The ready-made handler behind the Handler setting ``stdiobridge.aws_lambda.handler``."""

    def __init__(self) -> None:
        self.inner: LambdaHandler | None = None

    def configure(self) -> LambdaHandler:
        """Build the handler from the environment now (and start its child), once."""
        if self.inner is None:
            self.inner = make_handler(**handler_options_from_environment())
        return self.inner

    @property
    def bridge(self) -> Bridge | None:
        """The bridge, once configured."""
        return self.inner.bridge if self.inner is not None else None

    def __call__(self, event: Any, context: Any = None) -> Any:
        """Handle one invocation (configuring first if init did not; ``ConfigError`` when nothing is configured)."""
        return self.configure()(event, context)

    def __repr__(self) -> str:
        return f"<stdiobridge Lambda handler {self.inner!r}>"


def _spawn_at_import(env: Mapping[str, str]) -> bool:
    """Start at import only when Lambda's Handler (``_HANDLER``) is ours and the environment configures us.

    Anything else imports this module without a child: a function whose Handler
    is its own module (which calls ``make_handler``), a test run, a REPL, even
    with ``STDIOBRIDGE_*`` set. The handler then configures itself on its first call.
    """
    named = env.get("_HANDLER")
    return named is not None and named.replace("/", ".") == HANDLER_NAME and environment_configured(env)


#: ``Handler = stdiobridge.aws_lambda.handler``: configured from the environment,
#: its child spawned while Lambda imports this module (the init phase).
handler = _EnvironmentHandler()
if _spawn_at_import(os.environ):
    handler.configure()
