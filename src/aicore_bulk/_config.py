"""Where SAP AI Core is and how to authenticate, read the way SAP's SDKs read it.

Each setting is taken from the first layer that has it:

====  =========================  =========================================================
rank  layer                      what it holds
====  =========================  =========================================================
1     explicit arguments         ``resolve_settings(base_url=..., client_id=..., ...)``
2     environment variables      ``AICORE_BASE_URL``, ``AICORE_CLIENT_ID``, ... (below)
3     ``AICORE_SERVICE_KEY``     a whole service key as JSON, as SAP's JS and Java SDKs read it
4     config file                the first of: ``config_path=``; ``profile=``;
                                 ``AICORE_CONFIG``; ``AICORE_PROFILE``; ``config.json``.
                                 Profiles read ``$AICORE_HOME/config_<profile>.json``;
                                 ``AICORE_HOME`` defaults to ``~/.aicore``. A named file
                                 must exist; the default one may be absent.
5     ``VCAP_SERVICES``          the ``credentials`` of the first ``aicore`` binding
====  =========================  =========================================================

The contract lists explicit > environment > config file > ``VCAP_SERVICES``;
``AICORE_SERVICE_KEY`` is an environment variable too, so it ranks right after the
individual ones: a single ``AICORE_CLIENT_SECRET`` can override one field of a pasted key.

Environment variables (and config-file keys):

=========================  ==========================  =====================================
variable                   service-key field           meaning
=========================  ==========================  =====================================
``AICORE_BASE_URL``        ``serviceurls.AI_API_URL``  AI API URL; ``/v2`` appended if missing
``AICORE_AUTH_URL``        ``url``                     token URL; ``/oauth/token`` appended
``AICORE_CLIENT_ID``       ``clientid``                OAuth client id
``AICORE_CLIENT_SECRET``   ``clientsecret``            OAuth client secret
``AICORE_CERT_URL``        ``certurl``                 X.509 token URL; ``/oauth/token`` too
``AICORE_CERT_FILE_PATH``                              X.509 certificate file
``AICORE_KEY_FILE_PATH``                               X.509 private key file
``AICORE_CERT_STR``        ``certificate``             X.509 certificate, PEM text
``AICORE_KEY_STR``         ``key``                     X.509 private key, PEM text
``AICORE_RESOURCE_GROUP``                              the ``AI-Resource-Group`` header
``AICORE_TOKEN``                                       a static bearer token (ours, not SAP's)
=========================  ==========================  =====================================

Empty values count as unset, so ``export AICORE_TOKEN=`` switches a variable off.

Credentials are not stitched together from incompatible kinds. The highest layer that
sets a static token or any client credential decides between the two, and the highest
layer that sets a client secret, certificate files or PEM strings decides the proof; the
losing kinds are ignored in every layer (so ``token=`` overrides client credentials from
the environment). One layer setting two kinds at once is a conflict and an error.

Secrets (client secret, token, PEM text) and file contents never appear in a repr, an
error message or a log line.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import stat
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import attrs

from aicore_bulk._errors import ConfigurationError

_logger = logging.getLogger("aicore_bulk")

#: The ``AICORE_*`` name of every setting; also the keys of a config file.
_ENV_NAMES: Final[Mapping[str, str]] = {
    "base_url": "AICORE_BASE_URL",
    "auth_url": "AICORE_AUTH_URL",
    "client_id": "AICORE_CLIENT_ID",
    "client_secret": "AICORE_CLIENT_SECRET",
    "cert_url": "AICORE_CERT_URL",
    "cert_file": "AICORE_CERT_FILE_PATH",
    "key_file": "AICORE_KEY_FILE_PATH",
    "cert_pem": "AICORE_CERT_STR",
    "key_pem": "AICORE_KEY_STR",
    "token": "AICORE_TOKEN",
    "resource_group": "AICORE_RESOURCE_GROUP",
}

#: Where a service key keeps each setting.
_SERVICE_KEY_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "base_url": ("serviceurls", "AI_API_URL"),
    "auth_url": ("url",),
    "client_id": ("clientid",),
    "client_secret": ("clientsecret",),
    "cert_url": ("certurl",),
    "cert_pem": ("certificate",),
    "key_pem": ("key",),
}

_OAUTH_SUFFIX: Final = "/oauth/token"
_API_SUFFIX: Final = "/v2"
_SECRET_FIELDS: Final = frozenset({"client_secret", "token", "key_pem"})

_TOKEN: Final = frozenset({"token"})
_CLIENT: Final = frozenset(
    {"client_id", "client_secret", "cert_file", "key_file", "cert_pem", "key_pem"}
)
_SECRET: Final = frozenset({"client_secret"})
_CERT_FILES: Final = frozenset({"cert_file", "key_file"})
_CERT_PEMS: Final = frozenset({"cert_pem", "key_pem"})
_PROOFS: Final[Mapping[str, frozenset[str]]] = {
    "a client secret": _SECRET,
    "certificate files": _CERT_FILES,
    "certificate strings": _CERT_PEMS,
}

_NO_RESOURCE_GROUP: Final = (
    "no resource group: pass resource_group=, set AICORE_RESOURCE_GROUP"
    " or add it to the config file"
)
_NO_CREDENTIALS: Final = (
    "no credentials: set AICORE_CLIENT_ID, AICORE_CLIENT_SECRET and AICORE_AUTH_URL, "
    "or AICORE_SERVICE_KEY, or AICORE_TOKEN, or X.509 settings (AICORE_CLIENT_ID, "
    "AICORE_CERT_URL and AICORE_CERT_FILE_PATH with AICORE_KEY_FILE_PATH "
    "or AICORE_CERT_STR with AICORE_KEY_STR)"
)


@attrs.frozen(kw_only=True)
class Settings:
    """Everything needed to reach SAP AI Core, resolved and checked by `resolve_settings`.

    Exactly one kind of credentials is set: ``token``; or ``client_id`` with
    ``client_secret`` and ``auth_url``; or ``client_id`` with a certificate and key (files
    or PEM text) and ``cert_url`` (fall back to ``auth_url`` when it is ``None``).

    Attributes:
        base_url: The AI API URL, always ending in ``/v2``.
        auth_url: The token endpoint, ending in ``/oauth/token``; ``None`` with a token.
        client_id: The OAuth client id.
        client_secret: The OAuth client secret.
        cert_url: The X.509 token endpoint, ending in ``/oauth/token``.
        cert_file: Path of the X.509 certificate.
        key_file: Path of the X.509 private key.
        cert_pem: The X.509 certificate as PEM text.
        key_pem: The X.509 private key as PEM text.
        token: A static bearer token.
        resource_group: The ``AI-Resource-Group`` every call sends (never ``None`` once
            resolved; the type allows building settings by hand in tests).
        sources: Where the values came from, highest precedence first (never the values).

    """

    base_url: str
    resource_group: str | None = None
    auth_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)
    cert_url: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_pem: str | None = attrs.field(default=None, repr=False)
    key_pem: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    sources: tuple[str, ...] = ()


@attrs.frozen
class _Value:
    """One setting as a layer gave it."""

    text: str = attrs.field(repr=False)
    #: How error messages name it, e.g. "AICORE_BASE_URL in ~/.aicore/config.json".
    setting: str
    source: str


@attrs.frozen
class _Layer:
    """One place settings come from."""

    source: str
    #: How "looked in" lists it, e.g. "VCAP_SERVICES (not set)".
    looked: str
    values: Mapping[str, _Value]


@attrs.frozen
class _ConfigLocation:
    path: Path
    #: What named the file; a missing file that was named is an error, the default is not.
    named_by: str | None


def resolve_settings(
    *,
    base_url: str | None = None,
    auth_url: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    resource_group: str | None = None,
    token: str | None = None,
    cert_file: str | None = None,
    key_file: str | None = None,
    profile: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    warn: Callable[[str], None] | None = None,
    allow_insecure_http: bool = False,
    use_files: bool = True,
    need_credentials: bool = True,
) -> Settings:
    """Resolve and check the settings from arguments, environment, files and bindings.

    Args:
        base_url: The AI API URL (``/v2`` is appended when missing).
        auth_url: The token URL (``/oauth/token`` is appended when missing).
        client_id: The OAuth client id.
        client_secret: The OAuth client secret.
        resource_group: The resource group every call is scoped to.
        token: A static bearer token instead of client credentials.
        cert_file: Path of an X.509 client certificate.
        key_file: Path of the certificate's private key.
        profile: Read ``config_<profile>.json`` instead of ``config.json``.
        config_path: Read exactly this config file.
        environ: The environment to read; `os.environ` by default.
        home: The home folder that holds ``.aicore``; `Path.home` by default.
        warn: Called with each warning; logs to the ``aicore_bulk`` logger by default.
        allow_insecure_http: Accept ``http://`` for hosts other than loopback (with a warning).
        use_files: Read the config file; ``False`` (with ``environ={}``) takes the arguments only.
        need_credentials: ``False`` when the caller brings its own token source.

    Returns:
        The checked settings.

    Raises:
        ConfigurationError: A setting is missing, malformed or in conflict with another.

    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    home = Path.home() if home is None else home
    emit: Callable[[str], None] = _logger.warning if warn is None else warn
    arguments = {
        "base_url": base_url,
        "auth_url": auth_url,
        "client_id": client_id,
        "client_secret": client_secret,
        "resource_group": resource_group,
        "token": token,
        "cert_file": cert_file,
        "key_file": key_file,
    }
    if use_files:
        location = _config_location(config_path=config_path, profile=profile, env=env, home=home)
        config = _config_layer(location, home=home, warn=emit)
    else:
        config = _Layer("config file", "no config file (use_files=False)", {})
    layers = (
        _argument_layer(arguments),
        _environment_layer(env),
        _service_key_layer(env),
        config,
        _vcap_layer(env),
    )
    values = _select_credentials(layers, _merge(layers))
    problems = _missing(values, need_credentials=need_credentials)
    if problems:
        looked = ", ".join(layer.looked for layer in layers)
        raise ConfigurationError(
            f"incomplete AI Core settings: {'; '.join(problems)}. Looked in: {looked}."
        )
    sources = tuple(
        layer.source for layer in layers if any(v.source == layer.source for v in values.values())
    )
    return _build(values, sources=sources, allow_insecure_http=allow_insecure_http, warn=emit)


# --- layers ---------------------------------------------------------------------------------


def _argument_layer(arguments: Mapping[str, str | None]) -> _Layer:
    values = {name: _Value(text, name, "arguments") for name, text in arguments.items() if text}
    return _Layer("arguments", "arguments", values)


def _environment_layer(env: Mapping[str, str]) -> _Layer:
    values = {
        name: _Value(env[var], var, "environment")
        for name, var in _ENV_NAMES.items()
        if env.get(var)
    }
    return _Layer("environment", "environment", values)


def _service_key_layer(env: Mapping[str, str]) -> _Layer:
    source = "AICORE_SERVICE_KEY"
    raw = env.get(source)
    if not raw:
        return _Layer(source, f"{source} (not set)", {})
    key = _parse_json(raw, what=source)
    if not isinstance(key, dict):
        raise ConfigurationError(f"{source} is not a JSON object")
    return _Layer(source, source, _service_key_values(key, source=source))


def _vcap_layer(env: Mapping[str, str]) -> _Layer:
    source = "VCAP_SERVICES"
    raw = env.get(source)
    if not raw:
        return _Layer(source, f"{source} (not set)", {})
    services = _parse_json(raw, what=source)
    if not isinstance(services, dict):
        raise ConfigurationError(f"{source} is not a JSON object")
    bindings = services.get("aicore")
    if bindings is None:
        return _Layer(source, f"{source} (no aicore binding)", {})
    if not (isinstance(bindings, list) and bindings and isinstance(bindings[0], dict)):
        raise ConfigurationError(f"{source}: 'aicore' is not a list of bindings")
    credentials = bindings[0].get("credentials")
    if not isinstance(credentials, dict):
        raise ConfigurationError(f"{source}: the first 'aicore' binding has no credentials")
    return _Layer(source, source, _service_key_values(credentials, source=source))


def _service_key_values(key: Mapping[str, object], *, source: str) -> dict[str, _Value]:
    """A service key's settings; fields it lacks stay unset for the final check to report."""
    values: dict[str, _Value] = {}
    for name, path in _SERVICE_KEY_FIELDS.items():
        setting = f"{source} field {'.'.join(path)}"
        found: object = key
        for part in path:
            if found is None:
                break  # a missing object (no "serviceurls"): the field is simply unset
            if not isinstance(found, Mapping):
                raise ConfigurationError(f"{setting}: {part!r} is not inside an object")
            found = found.get(part)
        text = _optional_text(found, setting=setting)
        if text:
            values[name] = _Value(text, setting, source)
    return values


def _config_location(
    *,
    config_path: str | os.PathLike[str] | None,
    profile: str | None,
    env: Mapping[str, str],
    home: Path,
) -> _ConfigLocation:
    """Which config file to read; explicit arguments beat the environment here too."""
    if config_path is not None and profile is not None:
        raise ConfigurationError("pass config_path= or profile=, not both")
    if config_path is not None:
        return _ConfigLocation(Path(config_path), "config_path=")
    if profile is not None:
        return _profile_location(profile, named_by="profile=", env=env, home=home)
    if explicit := env.get("AICORE_CONFIG"):
        return _ConfigLocation(Path(explicit), "AICORE_CONFIG")
    if env_profile := env.get("AICORE_PROFILE"):
        return _profile_location(env_profile, named_by="AICORE_PROFILE", env=env, home=home)
    return _ConfigLocation(_aicore_home(env, home) / "config.json", None)


def _profile_location(
    profile: str, *, named_by: str, env: Mapping[str, str], home: Path
) -> _ConfigLocation:
    # SAP's SDK treats the profile "default" as plain config.json, which may be absent.
    if profile in {"", "default"}:
        return _ConfigLocation(_aicore_home(env, home) / "config.json", None)
    if "/" in profile or "\\" in profile or profile in {".", ".."}:
        raise ConfigurationError(f"{named_by} must be a profile name, not a path")
    folder = _aicore_home(env, home)
    return _ConfigLocation(folder / f"config_{profile}.json", f"{named_by} {profile!r}")


def _aicore_home(env: Mapping[str, str], home: Path) -> Path:
    if folder := env.get("AICORE_HOME"):
        return Path(folder)
    return home / ".aicore"


def _config_layer(location: _ConfigLocation, *, home: Path, warn: Callable[[str], None]) -> _Layer:
    shown = _display(location.path, home)
    try:
        raw = location.path.read_bytes()
    except FileNotFoundError:
        if location.named_by is not None:
            raise ConfigurationError(
                f"config file {shown} (named by {location.named_by}) does not exist"
            ) from None
        return _Layer(shown, f"{shown} (not found)", {})
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {shown}: {exc.strerror}") from None
    try:
        # utf-8-sig: editors on Windows like to start JSON files with a byte order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # The exception's own text quotes the offending byte: keep file content out.
        raise ConfigurationError(f"config file {shown} is not UTF-8 (byte {exc.start})") from None
    document = _parse_json(text, what=f"config file {shown}")
    if not isinstance(document, dict):
        raise ConfigurationError(f"config file {shown} does not hold a JSON object")
    values: dict[str, _Value] = {}
    for name, var in _ENV_NAMES.items():
        setting = f"{var} in {shown}"
        value = _optional_text(document.get(var), setting=setting)
        if value:
            values[name] = _Value(value, setting, shown)
    if _SECRET_FIELDS & values.keys():
        # Like ssh: a world-readable secret is worth a nudge, a world-readable URL is not.
        _warn_if_exposed(location.path, shown=shown, warn=warn)
    return _Layer(shown, shown, values)


def _parse_json(text: str, *, what: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and the position never contain the document, unlike some other parsers.
        raise ConfigurationError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def _optional_text(value: object, *, setting: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigurationError(f"{setting} must be a string")


def _display(path: Path, home: Path) -> str:
    """The path as users write it: ``~/.aicore/config.json`` rather than the full path."""
    if path.is_relative_to(home):
        return str(Path("~") / path.relative_to(home))
    return str(path)


# --- choosing ------------------------------------------------------------------------------


def _merge(layers: Iterable[_Layer]) -> dict[str, _Value]:
    merged: dict[str, _Value] = {}
    for layer in layers:
        for name, value in layer.values.items():
            merged.setdefault(name, value)
    return merged


def _select_credentials(layers: tuple[_Layer, ...], merged: dict[str, _Value]) -> dict[str, _Value]:
    """Drop every credential field of the kinds that lost (see the module docstring)."""
    kind = _winner(layers, {"a static token": _TOKEN, "client credentials": _CLIENT})
    if kind == "a static token":
        dropped = _CLIENT | {"auth_url", "cert_url"}
    else:
        proof = _winner(layers, _PROOFS)
        dropped = _TOKEN.union(*(fields for name, fields in _PROOFS.items() if name != proof))
        if proof == "a client secret":
            dropped |= {"cert_url"}
    return {name: value for name, value in merged.items() if name not in dropped}


def _winner(layers: Iterable[_Layer], kinds: Mapping[str, frozenset[str]]) -> str | None:
    """The kind set by the highest layer that sets any of them."""
    for layer in layers:
        present = [kind for kind, fields in kinds.items() if fields & layer.values.keys()]
        if len(present) > 1:
            settings = [
                "/".join(sorted(layer.values[f].setting for f in kinds[kind] & layer.values.keys()))
                for kind in present
            ]
            raise ConfigurationError(
                f"conflicting credentials in {layer.source}: {' and '.join(present)} "
                f"({', '.join(settings)}); give only one kind"
            )
        if present:
            return present[0]
    return None


def _missing(values: Mapping[str, _Value], *, need_credentials: bool) -> list[str]:
    problems = []
    if "base_url" not in values:
        problems.append(
            "no AI API URL: set AICORE_BASE_URL (or serviceurls.AI_API_URL in a service key)"
        )
    if "resource_group" not in values:
        problems.append(_NO_RESOURCE_GROUP)
    if not need_credentials:
        return problems
    return problems + _missing_credentials(set(values))


def _missing_credentials(have: set[str]) -> list[str]:
    if "token" in have:
        return []
    if not have & _CLIENT:
        return [_NO_CREDENTIALS]
    problems = []
    missing = [] if "client_id" in have else ["AICORE_CLIENT_ID"]
    if have & _CERT_FILES:
        problems += _unpaired(have, "cert_file", "key_file")
    elif have & _CERT_PEMS:
        problems += _unpaired(have, "cert_pem", "key_pem")
    else:
        if "client_secret" not in have:
            missing.append("AICORE_CLIENT_SECRET (or an X.509 certificate and key)")
        if "auth_url" not in have:
            missing.append("AICORE_AUTH_URL")
    if have & (_CERT_FILES | _CERT_PEMS) and not have & {"cert_url", "auth_url"}:
        missing.append("AICORE_CERT_URL (or AICORE_AUTH_URL)")
    if missing:
        problems.insert(0, f"missing {', '.join(missing)}")
    return problems


def _unpaired(have: set[str], cert: str, key: str) -> list[str]:
    for present, absent, what in (
        (cert, key, "a certificate without its key"),
        (key, cert, "a key without its certificate"),
    ):
        if present in have and absent not in have:
            return [f"{what}: {_ENV_NAMES[present]} is set but {_ENV_NAMES[absent]} is not"]
    return []


# --- checking ------------------------------------------------------------------------------


def _build(
    values: Mapping[str, _Value],
    *,
    sources: tuple[str, ...],
    allow_insecure_http: bool,
    warn: Callable[[str], None],
) -> Settings:
    """Normalise and check what `_missing` found complete."""
    checks = _UrlChecks(allow_insecure_http=allow_insecure_http, warn=warn)

    def url(name: str, suffix: str) -> str | None:
        return checks.normalise(values[name], suffix=suffix) if name in values else None

    def text(name: str) -> str | None:
        return values[name].text if name in values else None

    for name in ("cert_file", "key_file"):
        if name in values:
            _check_file(values[name], secret=name == "key_file", warn=warn)
    if "token" in values:
        _check_characters(values["token"], forbid_spaces=False)
    resource_group = values["resource_group"]
    _check_characters(resource_group, forbid_spaces=True)
    return Settings(
        base_url=checks.normalise(values["base_url"], suffix=_API_SUFFIX),
        auth_url=url("auth_url", _OAUTH_SUFFIX),
        cert_url=url("cert_url", _OAUTH_SUFFIX),
        client_id=text("client_id"),
        client_secret=text("client_secret"),
        cert_file=text("cert_file"),
        key_file=text("key_file"),
        cert_pem=_unescape_pem(text("cert_pem")),
        key_pem=_unescape_pem(text("key_pem")),
        token=text("token"),
        resource_group=resource_group.text,
        sources=sources,
    )


@attrs.define(eq=False)
class _UrlChecks:
    """Normalises URLs, refusing or warning about plain http once per URL."""

    allow_insecure_http: bool
    warn: Callable[[str], None]
    warned: set[str] = attrs.field(factory=set)

    def normalise(self, value: _Value, *, suffix: str) -> str:
        url = value.text.strip().rstrip("/")
        host = _http_host(url)
        if host is None:
            raise ConfigurationError(f"{value.setting} is not an http(s) URL")
        if url.lower().startswith("http:") and not _is_loopback(host):
            if not self.allow_insecure_http:
                raise ConfigurationError(
                    f"{value.setting} uses plain http:// for {host}, which sends credentials "
                    "unencrypted: use https:// or pass allow_insecure_http=True"
                )
            if url not in self.warned:
                self.warned.add(url)
                self.warn(
                    f"{value.setting} uses plain http:// for {host}: tokens travel unencrypted"
                )
        return url if url.endswith(suffix) else url + suffix


def _http_host(url: str) -> str | None:
    """The host of an http(s) URL without query or fragment, else None."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or parts.query or parts.fragment:
        return None
    return parts.hostname or None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_file(value: _Value, *, secret: bool, warn: Callable[[str], None]) -> None:
    try:
        mode = Path(value.text).stat().st_mode
    except OSError as exc:
        raise ConfigurationError(
            f"{value.setting} names {value.text}, which cannot be read: {exc.strerror}"
        ) from None
    if not stat.S_ISREG(mode):
        raise ConfigurationError(f"{value.setting} names {value.text}, which is not a file")
    if secret:
        _warn_if_exposed(Path(value.text), shown=value.text, warn=warn)


def _warn_if_exposed(path: Path, *, shown: str, warn: Callable[[str], None]) -> None:
    # Only POSIX: Windows ACLs do not map onto mode bits.
    if os.name == "posix" and path.stat().st_mode & 0o077:
        warn(f"{shown} is readable by other users; chmod 600 it")


def _check_characters(value: _Value, *, forbid_spaces: bool) -> None:
    """Refuse control characters: they would break (or smuggle) an HTTP header."""
    if any(unicodedata.category(ch).startswith("C") for ch in value.text):
        raise ConfigurationError(f"{value.setting} contains control characters")
    if forbid_spaces and any(ch.isspace() for ch in value.text):
        raise ConfigurationError(f"{value.setting} contains whitespace")


def _unescape_pem(pem: str | None) -> str | None:
    # PEM text squeezed into one line of an env file often carries literal "\n"; a real PEM
    # never contains a backslash, so undoing it is safe (SAP's SDK does the same).
    return None if pem is None else pem.replace("\\n", "\n")
