"""Settings of every command: one declaration per option, layered, resolved into a frozen object.

Every option of every ``lookout`` command is one :class:`Option`: its name, default, help, type
and choices. From it come the flag (``--bootstrap-servers``), the environment variable
(``LOOKOUT_BOOTSTRAP_SERVERS``) and the config-file key (``bootstrap-servers`` or
``bootstrap_servers``, in a TOML or JSON file given by ``--config FILE`` or ``LOOKOUT_CONFIG``).
Precedence: flag > environment > file > default. Positional arguments are options too (no
environment variable or file key: they name this run's inputs).

How: :func:`add_options` registers each option with a :class:`Deferred` default, which argparse
leaves in place when the flag is absent; :func:`resolve` then replaces each ``Deferred`` by the
environment, the file or the default, and returns a frozen :class:`Settings` that also records
where every value came from. A command's handler receives that object, never a Namespace.

Secrets (:attr:`Option.secret`, and passwords inside URLs) never appear in :func:`describe`,
logs or error messages.

Besides settings, the config file may hold **sections** that are not options (:data:`SECTIONS`):
``[[rules]]``, the alerting policy per series (``docs/alerting.md``), read by
:func:`load_section` for ``lookout run`` and ``lookout replay`` alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tomllib
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "Deferred",
    "Option",
    "Settings",
    "CONNECTION_OPTIONS",
    "RUN_OPTIONS",
    "ALERT_OPTIONS",
    "PRODUCE_OPTIONS",
    "SECTIONS",
    "add_options",
    "resolve",
    "describe",
    "load_config_file",
    "load_section",
    "mask_url",
    "parse_bool",
]

MASK = "********"


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it (never a secret's value)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Deferred:
    """The default of an option whose flag was not given; prints as the default itself, so
    ``%(default)s`` in help texts still reads right."""

    value: Any

    def __str__(self) -> str:
        return str(self.value)


def parse_bool(text: str) -> bool:
    """``true/false``, ``yes/no``, ``on/off``, ``1/0`` (any case).

    >>> parse_bool("Yes"), parse_bool("0")
    (True, False)
    """
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def positive_int(text: str) -> int:
    number = int(text)
    if number < 1:
        raise ValueError(f"must be at least 1, got {number}")
    return number


def positive_float(text: str) -> float:
    number = float(text)
    if not number > 0:
        raise ValueError(f"must be positive, got {number}")
    return number


def non_negative_int(text: str) -> int:
    number = int(text)
    if number < 0:
        raise ValueError(f"must be at least 0, got {number}")
    return number


def non_negative_float(text: str) -> float:
    number = float(text)
    if not 0 <= number < float("inf"):
        raise ValueError(f"must be a finite number >= 0, got {number}")
    return number


@dataclasses.dataclass(frozen=True, slots=True)
class Option:
    """One option of a command: ``name`` is the setting's name; flag, environment variable and
    config-file key derive from it.

    ``boolean`` options get ``--name`` and ``--no-name``; ``positional`` ones are arguments
    (with ``nargs``), not layered; a ``required`` option must be set by some layer; options
    sharing an ``exclusive`` group name exclude each other on the command line.
    """

    name: str
    default: Any
    help: str
    type: Callable[[str], Any] = str
    choices: tuple[Any, ...] | None = None
    secret: bool = False
    boolean: bool = False
    metavar: str | None = None
    positional: bool = False
    nargs: str | None = None
    required: bool = False
    exclusive: str | None = None
    flag_name: str | None = None  # the flag's name where it differs from the setting's

    @property
    def flag(self) -> str:
        return "--" + (self.flag_name or self.name).replace("_", "-")

    @property
    def env(self) -> str:
        return env_name(self.name)

    @property
    def layered(self) -> bool:
        """Whether the environment and the config file may set it (all but positionals)."""
        return not self.positional


class Settings(Mapping[str, Any]):
    """The resolved settings of one command: read-only, by attribute or key, with the source of
    every layered value (``"flag"``, ``"env"``, ``"file"`` or ``"default"``).

    >>> settings = Settings({"topic": "cpu", "batch_size": 500}, {"topic": "flag"})
    >>> settings.topic, settings["batch_size"], settings.sources["topic"]
    ('cpu', 500, 'flag')
    >>> settings.replace(topic="mem").topic, settings.topic
    ('mem', 'cpu')
    >>> settings.topic = "x"
    Traceback (most recent call last):
    ...
    AttributeError: settings are read-only; use replace()
    """

    __slots__ = ("_values", "_sources")

    def __init__(self, values: Mapping[str, Any], sources: Mapping[str, str] | None = None):
        object.__setattr__(self, "_values", dict(values))
        object.__setattr__(self, "_sources", dict(sources or {}))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no setting {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("settings are read-only; use replace()")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Settings({sorted(self._values)})"

    @property
    def sources(self) -> Mapping[str, str]:
        return dict(self._sources)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (their source: ``"replaced"``)."""
        unknown = set(changes) - set(self._values)
        if unknown:
            raise AttributeError(f"no setting(s) {sorted(unknown)}")
        sources = {**self._sources, **dict.fromkeys(changes, "replaced")}
        return Settings({**self._values, **changes}, sources)


def env_name(name: str) -> str:
    """The environment variable of option ``name``.

    >>> env_name("bootstrap_servers")
    'LOOKOUT_BOOTSTRAP_SERVERS'
    """
    return "LOOKOUT_" + name.upper()


CONNECTION_OPTIONS = (
    Option(
        "bootstrap_servers",
        "localhost:9092",
        "Kafka brokers to connect to, host:port[,host:port...]",
        metavar="HOST:PORT",
    ),
    Option(
        "connect_timeout",
        30.0,
        "seconds to wait for a broker to answer at start",
        type=positive_float,
        metavar="SECONDS",
    ),
    Option(
        "security_protocol",
        None,
        "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (kafka-python's default: PLAINTEXT)",
        choices=("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    ),
    Option(
        "sasl_mechanism",
        None,
        "SASL mechanism",
        choices=("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "OAUTHBEARER"),
    ),
    Option("sasl_plain_username", None, "SASL user name (PLAIN and SCRAM)", metavar="NAME"),
    Option(
        "sasl_plain_password",
        None,
        "SASL password (PLAIN and SCRAM)",
        secret=True,
        metavar="PASSWORD",
    ),
    Option("sasl_kerberos_service_name", None, "Kerberos service name (GSSAPI)", metavar="NAME"),
    Option("ssl_cafile", None, "CA certificates file to verify the brokers (PEM)", metavar="FILE"),
    Option("ssl_certfile", None, "client certificate file (PEM)", metavar="FILE"),
    Option("ssl_keyfile", None, "client private key file (PEM)", metavar="FILE"),
    Option(
        "ssl_password", None, "password of the client private key", secret=True, metavar="PASSWORD"
    ),
    Option(
        "ssl_check_hostname",
        None,
        "check that the broker certificate matches its host name (kafka-python default: yes)",
        boolean=True,
    ),
)

RUN_OPTIONS = (
    Option("topic", "metrics", "topic of metric points to consume", metavar="TOPIC"),
    Option(
        "group_id",
        "lookout",
        "consumer group; instances in one group share the partitions",
        metavar="GROUP",
    ),
    Option(
        "alerts_topic",
        "lookout-alerts",
        "topic receiving alert events (firing and resolved); empty: none",
        metavar="TOPIC",
    ),
    Option(
        "dead_letter_topic",
        "lookout-dead-letters",
        "topic receiving invalid messages with the reason; empty: none (still counted)",
        metavar="TOPIC",
    ),
    Option(
        "scores_topic",
        "",
        "topic receiving every scored point (score, expected band, alert flag); empty: none",
        metavar="TOPIC",
    ),
    Option(
        "metrics_address",
        "127.0.0.1:9108",
        "HOST:PORT serving /metrics, /-/healthy and /-/ready",
        metavar="HOST:PORT",
    ),
    Option(
        "alertmanager_url",
        "",
        "Alertmanager base URL (POST /api/v2/alerts); empty: none",
        metavar="URL",
    ),
    Option(
        "webhook_url",
        "",
        "URL receiving each alert event as a JSON POST; empty: none",
        metavar="URL",
    ),
    Option(
        "alert_resend_interval",
        60.0,
        "seconds between re-sends of firing alerts to Alertmanager",
        type=positive_float,
        metavar="SECONDS",
    ),
    Option(
        "http_timeout",
        5.0,
        "seconds per HTTP request to Alertmanager or the webhook",
        type=positive_float,
        metavar="SECONDS",
    ),
    Option(
        "alertmanager_username",
        None,
        "HTTP basic auth user for Alertmanager",
        metavar="NAME",
    ),
    Option(
        "alertmanager_password",
        None,
        "HTTP basic auth password for Alertmanager",
        secret=True,
        metavar="PASSWORD",
    ),
    Option(
        "alertmanager_bearer_token",
        None,
        "bearer token for Alertmanager (instead of basic auth)",
        secret=True,
        metavar="TOKEN",
    ),
    Option("webhook_username", None, "HTTP basic auth user for the webhook", metavar="NAME"),
    Option(
        "webhook_password",
        None,
        "HTTP basic auth password for the webhook",
        secret=True,
        metavar="PASSWORD",
    ),
    Option(
        "webhook_bearer_token",
        None,
        "bearer token for the webhook (instead of basic auth)",
        secret=True,
        metavar="TOKEN",
    ),
    Option(
        "max_series",
        10_000,
        "most series with detector state; points of further new series are dead-lettered as "
        "series_limit while the tracked ones keep being scored; 0: no limit",
        type=non_negative_int,
        metavar="N",
    ),
    Option(
        "series_ttl",
        86_400.0,
        "seconds of wall-clock time without a point after which a series' detector state is "
        "forgotten (it starts afresh if it comes back); 0: never",
        type=non_negative_float,
        metavar="SECONDS",
    ),
    Option(
        "reorder_window",
        0.0,
        "seconds of event time a point waits for earlier points of its series; points arriving "
        "later than the last scored one are dead-lettered as out_of_order",
        type=non_negative_float,
        metavar="SECONDS",
    ),
    Option(
        "max_exposed_series",
        1000,
        "most series exposed as Prometheus gauges; points of more are scored, not exposed",
        type=positive_int,
        metavar="N",
    ),
    Option(
        "series_idle_timeout",
        900.0,
        "seconds without a point after which a series' gauges are removed",
        type=positive_float,
        metavar="SECONDS",
    ),
    Option(
        "batch_size",
        500,
        "most messages per poll (one commit per batch)",
        type=positive_int,
        metavar="N",
    ),
    Option(
        "scoring_threads",
        2,
        "threads that score a poll batch: 2 scores two groups of its series at once (same "
        "results, for batches of at least 4,096 points), 1 scores on the consumer's thread",
        type=positive_int,
        choices=(1, 2),
        metavar="N",
    ),
    Option(
        "poll_timeout",
        1.0,
        "seconds a poll waits for messages",
        type=positive_float,
        metavar="SECONDS",
    ),
    Option(
        "auto_offset_reset",
        "earliest",
        "where a new consumer group starts",
        choices=("earliest", "latest"),
    ),
    Option(
        "session_timeout",
        10.0,
        "seconds without heartbeat before the group reassigns this consumer's partitions",
        type=positive_float,
        metavar="SECONDS",
    ),
    Option(
        "max_message_bytes",
        1 << 20,
        "larger messages are dead-lettered as too_large",
        type=positive_int,
        metavar="BYTES",
    ),
    Option(
        "max_batch_points",
        10_000,
        "batched messages with more points are dead-lettered as too_large",
        type=positive_int,
        metavar="N",
    ),
    Option(
        "max_messages",
        None,
        "stop after consuming this many messages (tests, benchmarks)",
        type=positive_int,
        metavar="N",
    ),
    Option(
        "max_seconds", None, "stop after this many seconds", type=positive_float, metavar="SECONDS"
    ),
    Option("log_level", "INFO", "logging level", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
)

#: How alerts read and how many page: shared by ``lookout run`` and ``lookout replay`` (the
#: policy per series is the config file's ``[[rules]]`` section, see docs/alerting.md).
ALERT_OPTIONS = (
    Option(
        "alert_severity",
        "page",
        "severity of alerts no rule gives one (the Alertmanager label; page or ticket)",
        metavar="LEVEL",
    ),
    Option(
        "runbook_url",
        "",
        "template of the runbook_url of alerts, with {series} and {label_name} fields "
        "(URL-encoded; a missing label is empty), e.g. https://runbooks.example/{team}/{series}",
        metavar="TEMPLATE",
    ),
    Option(
        "dashboard_url",
        "",
        "template of the dashboard_url of alerts, fields as --runbook-url",
        metavar="TEMPLATE",
    ),
    Option(
        "alert_budget",
        0.0,
        "fleet alert budget: at most this many pages per series per week, held by raising "
        "the paging threshold from the fleet's page rate of the last week (event time); "
        "0: off",
        type=non_negative_float,
        metavar="PAGES",
    ),
)

PRODUCE_OPTIONS = (Option("topic", "metrics", "topic to publish the points to", metavar="TOPIC"),)

#: Config-file keys that are sections, not options.
SECTIONS = ("rules",)


def add_options(parser: argparse.ArgumentParser | Any, options: Iterable[Option]) -> None:
    """Add ``options`` to ``parser`` (or an argument group) with :class:`Deferred` defaults."""
    exclusive: dict[str, Any] = {}
    for option in options:
        if option.positional:
            parser.add_argument(
                option.name,
                nargs=option.nargs,
                default=option.default,
                choices=option.choices,
                metavar=option.metavar,
                help=option.help.replace("%", "%%"),
            )
            continue
        # A secret's default is never shown, whatever it is.
        shown = "none" if option.default in (None, "") or option.secret else option.default
        help_text = f"{option.help} (default: {shown}; env {option.env})"
        kwargs: dict[str, Any] = {
            "dest": option.name,
            "default": Deferred(option.default),
            "help": help_text.replace("%", "%%"),
        }
        if option.boolean:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = option.type
            kwargs["choices"] = option.choices
            kwargs["metavar"] = option.metavar
        target = parser
        if option.exclusive is not None:
            if option.exclusive not in exclusive:
                exclusive[option.exclusive] = parser.add_mutually_exclusive_group()
            target = exclusive[option.exclusive]
        target.add_argument(option.flag, **kwargs)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A flat mapping from a ``.toml`` file (or a ``.json`` one); keys may use ``-`` or ``_``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
    ...     _ = f.write('bootstrap-servers = "kafka:9092"\\nbatch_size = 100\\n')
    >>> load_config_file(f.name)
    {'bootstrap_servers': 'kafka:9092', 'batch_size': 100}
    """
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
    try:
        if file.suffix == ".json":
            document = json.loads(text)
        else:
            document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config file {file} is not valid: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"config file {file} must hold a table of settings")
    return {str(key).replace("-", "_"): value for key, value in document.items()}


def load_section(args: argparse.Namespace, environ: Mapping[str, str], name: str) -> Any:
    """Section ``name`` (of :data:`SECTIONS`) of the config file of ``args.config`` or
    ``LOOKOUT_CONFIG``; None without a file or without the section.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
    ...     _ = f.write('[[rules]]\\nmatchers = [\\'env="staging"\\']\\nseverity = "ticket"\\n')
    >>> load_section(argparse.Namespace(config=f.name), {}, "rules")
    [{'matchers': ['env="staging"'], 'severity': 'ticket'}]
    """
    config_path = getattr(args, "config", None) or environ.get(env_name("config"))
    if not config_path:
        return None
    return load_config_file(config_path).get(name)


def resolve(
    args: argparse.Namespace | Mapping[str, Any],
    environ: Mapping[str, str],
    options: Iterable[Option],
    known_elsewhere: Iterable[str] = (),
) -> Settings:
    """Settings from parsed arguments: every :class:`Deferred` replaced by the environment, the
    config file or the default.

    Parameters
    ----------
    args
        Parsed arguments; ``args.config`` may name the config file. Names that are not options
        (``config``, ``print_config``) are kept as they are.
    environ
        The environment (``os.environ``).
    options
        The command's :class:`Option` declarations (for types, choices and secrets).
    known_elsewhere
        Config-file keys that belong to other commands, ignored rather than rejected.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_options(parser, RUN_OPTIONS[:2])
    >>> args = parser.parse_args(["--topic", "cpu"])
    >>> environ = {"LOOKOUT_GROUP_ID": "g1", "LOOKOUT_TOPIC": "x"}
    >>> settings = resolve(args, environ, RUN_OPTIONS[:2])
    >>> settings.topic, settings.sources["topic"], settings.group_id, settings.sources["group_id"]
    ('cpu', 'flag', 'g1', 'env')
    """
    given = dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args)
    by_name = {option.name: option for option in options if option.layered}
    config_path = given.get("config") or environ.get(env_name("config"))
    file_values = load_config_file(config_path) if config_path else {}
    unknown = sorted(set(file_values) - set(by_name) - set(known_elsewhere) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"config file {config_path}: unknown setting(s) {unknown}")

    values = dict(given)
    sources = {}
    for name, option in by_name.items():
        value = given.get(name, Deferred(option.default))
        if not isinstance(value, Deferred):
            sources[name] = "flag"
            continue
        if option.env in environ:
            raw, source, origin = environ[option.env], "env", option.env
        elif name in file_values:
            raw, source, origin = file_values[name], "file", f"{config_path}: {name}"
        else:
            values[name], sources[name] = value.value, "default"
            continue
        values[name], sources[name] = _convert(raw, option, value.value, origin), source
    missing = [
        option for option in by_name.values() if option.required and values[option.name] is None
    ]
    if missing:
        option = missing[0]
        raise ConfigError(
            f"{option.flag} is required (or {option.env}, or {option.name} in --config)"
        )
    return Settings(values, sources)


def _convert(raw: Any, option: Option, default: Any, origin: str) -> Any:
    """``raw`` (text from the environment, or a TOML/JSON value) as the option's type."""
    try:
        if option.boolean or isinstance(default, bool):
            value = raw if isinstance(raw, bool) else parse_bool(str(raw))
        elif isinstance(raw, bool):
            value = _reject(raw)
        else:
            value = option.type(str(raw))
    except (TypeError, ValueError) as exc:
        reason = "invalid value" if option.secret else str(exc)
        raise ConfigError(f"{origin}: {reason}") from None
    if option.choices and value not in option.choices:
        shown = "value" if option.secret else repr(value)
        raise ConfigError(f"{origin}: {shown} is not one of {list(option.choices)}")
    return value


def _reject(raw: Any) -> Any:
    raise ValueError(f"unexpected {type(raw).__name__} {raw!r}")


def mask_url(url: str) -> str:
    """``url`` with the password of its user info masked.

    >>> mask_url("https://lookout:s3cret@alertmanager:9093/")
    'https://lookout:********@alertmanager:9093/'
    >>> mask_url("http://alertmanager:9093")
    'http://alertmanager:9093'
    """
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:{MASK}@{host}"))


def describe(settings: Settings, options: Iterable[Option] = ()) -> str:
    """``name = value  (source)`` per layered setting, secrets masked; for ``--print-config``.

    Examples
    --------
    >>> settings = Settings({"sasl_plain_password": "hunter2", "topic": "cpu"},
    ...                     {"sasl_plain_password": "env", "topic": "flag"})
    >>> print(describe(settings, CONNECTION_OPTIONS))
    sasl_plain_password = '********'  (env)
    topic = 'cpu'  (flag)
    """
    secrets = {option.name for option in options if option.secret}
    sources = settings.sources
    lines = []
    for name, value in sorted(settings.items()):
        if name not in sources:
            continue
        if name in secrets and value not in (None, ""):
            value = MASK
        elif isinstance(value, str) and "://" in value:
            value = mask_url(value)
        lines.append(f"{name} = {value!r}  ({sources[name]})")
    return "\n".join(lines)
