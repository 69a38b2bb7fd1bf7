"""Settings resolution: precedence, files, normalisation, validation and secret hygiene."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from aicore_bulk import BulkClient
from aicore_bulk._config import Settings, resolve_settings
from aicore_bulk._errors import ConfigurationError

# Distinctive values: if one shows up in a message or a repr, a secret leaked.
SECRET = "s3cr3t-CLIENT-SECRET-q7Zx"
TOKEN = "t0k3n-STATIC-BEARER-k9Wv"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nPRIVATE-KEY-BODY-m4Np\n-----END PRIVATE KEY-----\n"
CERT_PEM = "-----BEGIN CERTIFICATE-----\nCERT-BODY-r2Ty\n-----END CERTIFICATE-----\n"
LEAKS = (SECRET, TOKEN, "PRIVATE-KEY-BODY-m4Np", "CERT-BODY-r2Ty")

ENV = {
    "AICORE_CLIENT_ID": "env-client",
    "AICORE_CLIENT_SECRET": SECRET,
    "AICORE_AUTH_URL": "https://env-auth.example.com",
    "AICORE_BASE_URL": "https://env-api.example.com",
    "AICORE_RESOURCE_GROUP": "env-group",
}

posix_only = pytest.mark.skipif(os.name != "posix", reason="mode bits are POSIX")


def service_key(**overrides: object) -> dict[str, object]:
    key: dict[str, object] = {
        "clientid": "key-client",
        "clientsecret": SECRET,
        "url": "https://key-auth.example.com",
        "identityzone": "zone",
        "serviceurls": {"AI_API_URL": "https://key-api.example.com"},
    }
    key.update(overrides)
    return key


def x509_key() -> dict[str, object]:
    return {
        "clientid": "cert-client",
        "certificate": CERT_PEM,
        "key": KEY_PEM,
        "certurl": "https://cert-auth.example.com",
        "url": "https://plain-auth.example.com",
        "serviceurls": {"AI_API_URL": "https://key-api.example.com"},
    }


def vcap(credentials: object) -> str:
    return json.dumps({"aicore": [{"label": "aicore", "credentials": credentials}]})


def write_json(path: Path, data: object, *, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    path.chmod(mode)
    return path


def resolve(tmp_path, environ=None, *, warnings=None, **kwargs) -> Settings:
    """resolve_settings isolated from the real home and environment."""
    sink = [] if warnings is None else warnings
    return resolve_settings(environ=environ or {}, home=tmp_path, warn=sink.append, **kwargs)


def config_error(tmp_path, environ=None, **kwargs) -> str:
    """The message of the ConfigurationError that resolving raises, checked for leaks."""
    with pytest.raises(ConfigurationError) as info:
        resolve(tmp_path, environ, **kwargs)
    message = str(info.value)
    for leak in LEAKS:
        assert leak not in message
    return message


# --- precedence ------------------------------------------------------------------------------


def test_environment_alone_is_enough(tmp_path):
    """The SDK's AICORE_* variables give complete client-credential settings."""
    settings = resolve(tmp_path, ENV)

    assert settings == Settings(
        base_url="https://env-api.example.com/v2",
        auth_url="https://env-auth.example.com/oauth/token",
        client_id="env-client",
        client_secret=SECRET,
        resource_group="env-group",
        sources=("environment",),
    )


def test_explicit_arguments_beat_the_environment(tmp_path):
    """An explicit argument overrides the same setting from the environment, field by field."""
    settings = resolve(
        tmp_path, ENV, base_url="https://arg-api.example.com", resource_group="arg-group"
    )

    assert settings.base_url == "https://arg-api.example.com/v2"
    assert settings.resource_group == "arg-group"
    assert settings.client_id == "env-client"
    assert settings.sources == ("arguments", "environment")


def test_environment_beats_the_service_key(tmp_path):
    """Individual AICORE_* variables override the fields of AICORE_SERVICE_KEY."""
    environ = {
        "AICORE_SERVICE_KEY": json.dumps(service_key()),
        "AICORE_BASE_URL": "https://env-api.example.com",
        "AICORE_RESOURCE_GROUP": "env-group",
    }

    settings = resolve(tmp_path, environ)

    assert settings.base_url == "https://env-api.example.com/v2"
    assert settings.client_id == "key-client"
    assert settings.client_secret == SECRET
    assert settings.auth_url == "https://key-auth.example.com/oauth/token"
    assert settings.sources == ("environment", "AICORE_SERVICE_KEY")


def test_service_key_beats_the_config_file(tmp_path):
    """AICORE_SERVICE_KEY overrides the config file; the file fills what the key lacks."""
    write_json(
        tmp_path / ".aicore" / "config.json",
        {"AICORE_CLIENT_ID": "file-client", "AICORE_RESOURCE_GROUP": "file-group"},
    )

    settings = resolve(tmp_path, {"AICORE_SERVICE_KEY": json.dumps(service_key())})

    assert settings.client_id == "key-client"
    assert settings.resource_group == "file-group"
    assert settings.sources == ("AICORE_SERVICE_KEY", "~/.aicore/config.json")


def test_config_file_beats_vcap_services(tmp_path):
    """The config file overrides the VCAP_SERVICES binding; the binding fills the rest."""
    write_json(
        tmp_path / ".aicore" / "config.json",
        {"AICORE_BASE_URL": "https://file-api.example.com", "AICORE_RESOURCE_GROUP": "g1"},
    )

    settings = resolve(tmp_path, {"VCAP_SERVICES": vcap(service_key())})

    assert settings.base_url == "https://file-api.example.com/v2"
    assert settings.client_id == "key-client"
    assert settings.auth_url == "https://key-auth.example.com/oauth/token"
    assert settings.sources == ("~/.aicore/config.json", "VCAP_SERVICES")


def test_vcap_services_uses_the_first_aicore_binding(tmp_path):
    """Only the first binding labelled aicore is read."""
    services = {
        "aicore": [
            {"credentials": service_key()},
            {"credentials": service_key(clientid="second")},
        ],
        "xsuaa": [{"credentials": {"clientid": "other-service"}}],
    }
    environ = {"VCAP_SERVICES": json.dumps(services), "AICORE_RESOURCE_GROUP": "g1"}

    assert resolve(tmp_path, environ).client_id == "key-client"


def test_vcap_services_without_aicore_is_ignored(tmp_path):
    """A VCAP_SERVICES with other services only contributes nothing."""
    environ = {**ENV, "VCAP_SERVICES": json.dumps({"xsuaa": [{"credentials": {}}]})}

    assert resolve(tmp_path, environ).sources == ("environment",)


@pytest.mark.parametrize(
    "services",
    [
        "[]",
        json.dumps({"aicore": []}),
        json.dumps({"aicore": {"credentials": {}}}),
        json.dumps({"aicore": [{"name": "no credentials"}]}),
    ],
)
def test_malformed_vcap_services_is_an_error(tmp_path, services):
    """A VCAP_SERVICES whose aicore binding has an unexpected shape is refused."""
    assert "VCAP_SERVICES" in config_error(tmp_path, {**ENV, "VCAP_SERVICES": services})


def test_vcap_services_that_is_not_json_is_not_echoed(tmp_path):
    """Invalid JSON in VCAP_SERVICES is reported by position, without its content."""
    message = config_error(tmp_path, {**ENV, "VCAP_SERVICES": f'{{"aicore": {SECRET}'})

    assert message.startswith("VCAP_SERVICES is not valid JSON")


def test_empty_values_count_as_unset(tmp_path):
    """An empty variable or argument lets a lower layer provide the setting."""
    environ = {**ENV, "AICORE_TOKEN": "", "AICORE_SERVICE_KEY": ""}

    settings = resolve(tmp_path, environ, base_url="", client_id="", token="")

    assert settings.base_url == "https://env-api.example.com/v2"
    assert settings.client_id == "env-client"
    assert settings.token is None


# --- URL normalisation and checks --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com",
        "https://api.example.com/",
        "https://api.example.com/v2",
        "https://api.example.com/v2/",
        "  https://api.example.com//  ",
    ],
)
def test_base_url_ends_in_exactly_one_v2(tmp_path, url):
    """The base URL loses trailing slashes and gains /v2 unless it has it."""
    settings = resolve(tmp_path, {**ENV, "AICORE_BASE_URL": url})

    assert settings.base_url == "https://api.example.com/v2"


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com",
        "https://auth.example.com/",
        "https://auth.example.com/oauth/token",
        "https://auth.example.com/oauth/token/",
    ],
)
def test_token_urls_end_in_oauth_token(tmp_path, url):
    """Auth and cert URLs lose trailing slashes and gain /oauth/token unless they have it."""
    settings = resolve(tmp_path, {**ENV, "AICORE_AUTH_URL": url})
    x509 = resolve(
        tmp_path,
        {"AICORE_SERVICE_KEY": json.dumps({**x509_key(), "certurl": url})},
        resource_group="g1",
    )

    assert settings.auth_url == "https://auth.example.com/oauth/token"
    assert x509.cert_url == "https://auth.example.com/oauth/token"


@pytest.mark.parametrize(
    "url",
    [
        "api.example.com",
        "ftp://api.example.com",
        "https://",
        "https:///v2",
        "https://api.example.com?x=1",
        "https://api.example.com/#top",
        "https://api.example.com:port",
        "https://[::1",
    ],
)
def test_a_base_url_that_is_not_http_is_refused(tmp_path, url):
    """A URL without an http(s) scheme and host (or with a query) is refused by name."""
    message = config_error(tmp_path, {**ENV, "AICORE_BASE_URL": url})

    assert message == "AICORE_BASE_URL is not an http(s) URL"


def test_a_bad_url_is_named_by_where_it_came_from(tmp_path):
    """URL errors name the argument, variable or file key that held the URL."""
    write_json(tmp_path / ".aicore" / "config.json", {"AICORE_AUTH_URL": "nope"})
    environ = {k: v for k, v in ENV.items() if k != "AICORE_AUTH_URL"}

    assert config_error(tmp_path, ENV, base_url="nope") == "base_url is not an http(s) URL"
    assert config_error(tmp_path, environ) == (
        "AICORE_AUTH_URL in ~/.aicore/config.json is not an http(s) URL"
    )


def test_plain_http_to_a_remote_host_is_refused(tmp_path):
    """http:// to a non-loopback host fails and points at allow_insecure_http=True."""
    message = config_error(tmp_path, {**ENV, "AICORE_AUTH_URL": "http://auth.example.com"})

    assert message.startswith("AICORE_AUTH_URL uses plain http:// for auth.example.com")
    assert message.endswith("use https:// or pass allow_insecure_http=True")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "[::1]", "localhost:8080"]
)
def test_plain_http_to_loopback_is_fine(tmp_path, host):
    """http:// to 127.0.0.0/8, ::1 or localhost needs no opt-in and raises no warning."""
    warnings: list[str] = []

    settings = resolve(tmp_path, {**ENV, "AICORE_BASE_URL": f"http://{host}"}, warnings=warnings)

    assert settings.base_url == f"http://{host}/v2"
    assert warnings == []


def test_allow_insecure_http_warns_once_per_url(tmp_path):
    """With allow_insecure_http, each distinct http:// URL is accepted with one warning."""
    warnings: list[str] = []
    environ = {
        "AICORE_CLIENT_ID": "id",
        "AICORE_CERT_STR": CERT_PEM,
        "AICORE_KEY_STR": KEY_PEM,
        "AICORE_AUTH_URL": "http://auth.example.com",
        "AICORE_CERT_URL": "http://auth.example.com/",
        "AICORE_BASE_URL": "http://api.example.com",
        "AICORE_RESOURCE_GROUP": "g1",
    }

    settings = resolve(tmp_path, environ, warnings=warnings, allow_insecure_http=True)

    assert settings.base_url == "http://api.example.com/v2"
    assert settings.cert_url == "http://auth.example.com/oauth/token"
    assert len(warnings) == 2
    assert any("api.example.com" in w for w in warnings)
    assert any("auth.example.com" in w for w in warnings)


# --- config files ----------------------------------------------------------------------------


def test_profile_argument_selects_its_file(tmp_path):
    """profile= reads config_<profile>.json from ~/.aicore."""
    write_json(tmp_path / ".aicore" / "config.json", {"AICORE_RESOURCE_GROUP": "plain"})
    write_json(tmp_path / ".aicore" / "config_dev.json", {"AICORE_RESOURCE_GROUP": "dev"})

    settings = resolve(tmp_path, {**ENV, "AICORE_RESOURCE_GROUP": ""}, profile="dev")

    assert settings.resource_group == "dev"
    assert settings.sources == ("environment", "~/.aicore/config_dev.json")


def test_aicore_profile_selects_its_file(tmp_path):
    """AICORE_PROFILE reads config_<profile>.json when no profile= is given."""
    write_json(tmp_path / ".aicore" / "config_qa.json", {"AICORE_RESOURCE_GROUP": "qa"})
    environ = {**ENV, "AICORE_RESOURCE_GROUP": "", "AICORE_PROFILE": "qa"}

    assert resolve(tmp_path, environ).resource_group == "qa"


def test_profile_argument_beats_aicore_profile_and_aicore_config(tmp_path):
    """An explicit profile= wins over the AICORE_PROFILE and AICORE_CONFIG variables."""
    write_json(tmp_path / ".aicore" / "config_arg.json", {"AICORE_RESOURCE_GROUP": "arg"})
    write_json(tmp_path / "other.json", {"AICORE_RESOURCE_GROUP": "other"})
    environ = {
        **ENV,
        "AICORE_RESOURCE_GROUP": "",
        "AICORE_PROFILE": "env",
        "AICORE_CONFIG": str(tmp_path / "other.json"),
    }

    assert resolve(tmp_path, environ, profile="arg").resource_group == "arg"


def test_default_profile_means_config_json(tmp_path):
    """The profile "default" reads config.json, as SAP's SDK does, and may be absent."""
    write_json(tmp_path / ".aicore" / "config.json", {"AICORE_RESOURCE_GROUP": "plain"})
    environ = {**ENV, "AICORE_RESOURCE_GROUP": ""}

    assert resolve(tmp_path, environ, profile="default").resource_group == "plain"
    (tmp_path / ".aicore" / "config.json").unlink()
    assert resolve(tmp_path, ENV, profile="default").resource_group == "env-group"


@pytest.mark.parametrize("profile", ["../etc", "a/b", "a\\b", ".."])
def test_a_profile_that_is_a_path_is_refused(tmp_path, profile):
    """A profile name may not walk out of the config folder."""
    assert "profile" in config_error(tmp_path, ENV, profile=profile)


def test_aicore_config_names_the_file(tmp_path):
    """AICORE_CONFIG reads exactly the file it names."""
    path = write_json(tmp_path / "elsewhere" / "ai.json", {"AICORE_RESOURCE_GROUP": "cfg"})
    environ = {**ENV, "AICORE_RESOURCE_GROUP": "", "AICORE_CONFIG": str(path)}

    settings = resolve(tmp_path, environ)

    assert settings.resource_group == "cfg"
    assert settings.sources == ("environment", "~/elsewhere/ai.json")


def test_config_path_argument_beats_aicore_config(tmp_path):
    """config_path= reads its file even when AICORE_CONFIG names another."""
    path = write_json(tmp_path / "mine.json", {"AICORE_RESOURCE_GROUP": "mine"})
    write_json(tmp_path / "theirs.json", {"AICORE_RESOURCE_GROUP": "theirs"})
    environ = {**ENV, "AICORE_RESOURCE_GROUP": "", "AICORE_CONFIG": str(tmp_path / "theirs.json")}

    assert resolve(tmp_path, environ, config_path=path).resource_group == "mine"


def test_config_path_and_profile_together_are_refused(tmp_path):
    """Naming a file and a profile at once is ambiguous."""
    message = config_error(tmp_path, ENV, config_path=tmp_path / "x.json", profile="dev")

    assert message == "pass config_path= or profile=, not both"


def test_aicore_home_moves_the_config_folder(tmp_path):
    """AICORE_HOME replaces ~/.aicore as the folder of config files and profiles."""
    folder = tmp_path / "custom"
    write_json(folder / "config.json", {"AICORE_RESOURCE_GROUP": "home"})
    write_json(folder / "config_p.json", {"AICORE_RESOURCE_GROUP": "home-p"})
    environ = {**ENV, "AICORE_RESOURCE_GROUP": "", "AICORE_HOME": str(folder)}

    assert resolve(tmp_path, environ).resource_group == "home"
    assert resolve(tmp_path, environ, profile="p").resource_group == "home-p"


def test_a_missing_default_config_file_is_fine(tmp_path):
    """Without a config file, the other layers are enough."""
    assert resolve(tmp_path, ENV).sources == ("environment",)


def test_use_files_false_skips_the_config_file(tmp_path):
    """use_files=False ignores even an existing config file."""
    write_json(tmp_path / ".aicore" / "config.json", {"AICORE_RESOURCE_GROUP": "file"})
    environ = {**ENV, "AICORE_RESOURCE_GROUP": ""}

    message = config_error(tmp_path, environ, use_files=False)

    assert "no resource group" in message
    assert "no config file (use_files=False)" in message


@pytest.mark.parametrize(
    ("kwargs", "environ", "named_by"),
    [
        ({"config_path": "missing.json"}, {}, "config_path="),
        ({}, {"AICORE_CONFIG": "missing.json"}, "AICORE_CONFIG"),
        ({"profile": "nope"}, {}, "profile= 'nope'"),
        ({}, {"AICORE_PROFILE": "nope"}, "AICORE_PROFILE 'nope'"),
    ],
)
def test_a_missing_named_config_file_is_an_error(tmp_path, kwargs, environ, named_by):
    """A config file named by argument, AICORE_CONFIG or a profile must exist."""
    message = config_error(tmp_path, {**ENV, **environ}, **kwargs)

    assert message.endswith(f"(named by {named_by}) does not exist")
    assert "missing.json" in message or "~/.aicore/config_nope.json" in message


def test_malformed_config_file_names_path_and_position_not_content(tmp_path):
    """Invalid JSON in the config file is reported by path, line and column only."""
    path = tmp_path / ".aicore" / "config.json"
    path.parent.mkdir()
    path.write_text(f'{{\n  "AICORE_CLIENT_SECRET": "{SECRET}",\n  oops\n}}', encoding="utf-8")

    message = config_error(tmp_path, ENV)

    assert message.startswith("config file ~/.aicore/config.json is not valid JSON")
    assert "line 3 column 3" in message


def test_a_config_file_that_is_not_an_object_is_refused(tmp_path):
    """A config file must hold a JSON object."""
    write_json(tmp_path / ".aicore" / "config.json", [SECRET])

    assert config_error(tmp_path, ENV) == (
        "config file ~/.aicore/config.json does not hold a JSON object"
    )


def test_a_config_value_that_is_not_a_string_is_refused(tmp_path):
    """A non-string value is refused by key and path, without the value."""
    write_json(tmp_path / ".aicore" / "config.json", {"AICORE_CLIENT_SECRET": [SECRET]})

    assert config_error(tmp_path, ENV) == (
        "AICORE_CLIENT_SECRET in ~/.aicore/config.json must be a string"
    )


def test_a_config_file_that_is_not_utf8_is_refused(tmp_path):
    """Undecodable bytes are reported by offset, not quoted."""
    path = tmp_path / ".aicore" / "config.json"
    path.parent.mkdir()
    path.write_bytes(b'{"AICORE_CLIENT_SECRET": "\xff\xfe"}')

    assert config_error(tmp_path, ENV) == "config file ~/.aicore/config.json is not UTF-8 (byte 26)"


def test_an_unreadable_config_file_is_refused(tmp_path):
    """A config path that cannot be read (here a folder) is an error naming it."""
    (tmp_path / ".aicore" / "config.json").mkdir(parents=True)

    assert config_error(tmp_path, ENV).startswith("cannot read config file ~/.aicore/config.json")


def test_unknown_config_keys_are_ignored(tmp_path):
    """Keys other than the AICORE_* settings (other tools' settings) do not matter."""
    write_json(
        tmp_path / ".aicore" / "config.json", {"AICORE_RESOURCE_GROUP": "g", "OTHER": [1, 2]}
    )

    assert resolve(tmp_path, {**ENV, "AICORE_RESOURCE_GROUP": ""}).resource_group == "g"


@posix_only
def test_a_world_readable_config_file_with_secrets_is_warned_about(tmp_path):
    """A config file holding a secret and readable by others earns a chmod 600 warning."""
    warnings: list[str] = []
    write_json(tmp_path / ".aicore" / "config.json", {"AICORE_CLIENT_SECRET": SECRET}, mode=0o644)

    resolve(tmp_path, ENV, warnings=warnings)

    assert warnings == ["~/.aicore/config.json is readable by other users; chmod 600 it"]


@posix_only
@pytest.mark.parametrize(
    ("mode", "content"),
    [(0o600, {"AICORE_CLIENT_SECRET": SECRET}), (0o644, {"AICORE_RESOURCE_GROUP": "g"})],
    ids=["private-file", "no-secret"],
)
def test_no_warning_for_private_or_secret_free_config_files(tmp_path, mode, content):
    """Mode 600, or a file without secrets, is not warned about."""
    warnings: list[str] = []
    write_json(tmp_path / ".aicore" / "config.json", content, mode=mode)

    resolve(tmp_path, ENV, warnings=warnings)

    assert warnings == []


@posix_only
def test_warnings_go_to_the_aicore_bulk_logger_by_default(tmp_path, caplog):
    """Without warn=, warnings are logged by the aicore_bulk logger."""
    write_json(tmp_path / ".aicore" / "config.json", {"AICORE_CLIENT_SECRET": SECRET}, mode=0o644)

    with caplog.at_level(logging.WARNING, logger="aicore_bulk"):
        resolve_settings(environ=ENV, home=tmp_path)

    assert [r.name for r in caplog.records] == ["aicore_bulk"]
    assert "chmod 600" in caplog.records[0].getMessage()


# --- service keys ----------------------------------------------------------------------------


def test_service_key_maps_every_field(tmp_path):
    """clientid, clientsecret, url and serviceurls.AI_API_URL become settings."""
    environ = {"AICORE_SERVICE_KEY": json.dumps(service_key()), "AICORE_RESOURCE_GROUP": "g"}

    assert resolve(tmp_path, environ) == Settings(
        base_url="https://key-api.example.com/v2",
        auth_url="https://key-auth.example.com/oauth/token",
        client_id="key-client",
        client_secret=SECRET,
        resource_group="g",
        sources=("environment", "AICORE_SERVICE_KEY"),
    )


def test_bad_service_key_json_is_not_echoed(tmp_path):
    """Invalid JSON in AICORE_SERVICE_KEY is reported without its content."""
    environ = {**ENV, "AICORE_SERVICE_KEY": f'{{"clientsecret": "{SECRET}",'}

    message = config_error(tmp_path, environ)

    assert message.startswith("AICORE_SERVICE_KEY is not valid JSON: ")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ([SECRET], "AICORE_SERVICE_KEY is not a JSON object"),
        (service_key(clientsecret=12345), "AICORE_SERVICE_KEY field clientsecret must be a string"),
        (service_key(serviceurls=SECRET), "AICORE_SERVICE_KEY field serviceurls.AI_API_URL"),
    ],
)
def test_a_malformed_service_key_is_refused(tmp_path, key, expected):
    """A service key of the wrong shape is refused by field, not by value."""
    message = config_error(tmp_path, {**ENV, "AICORE_SERVICE_KEY": json.dumps(key)})

    assert message.startswith(expected)


def test_a_service_key_without_api_url_leaves_base_url_unset(tmp_path):
    """A key lacking serviceurls.AI_API_URL is read, and the missing URL is reported."""
    key = service_key(serviceurls={})
    environ = {"AICORE_SERVICE_KEY": json.dumps(key), "AICORE_RESOURCE_GROUP": "g"}

    message = config_error(tmp_path, environ)

    assert "AICORE_BASE_URL" in message
    assert "credentials" not in message


# --- missing settings ------------------------------------------------------------------------


def test_nothing_configured_lists_every_missing_setting_and_where_we_looked(tmp_path):
    """With no settings at all, the error names each missing setting and every place read."""
    message = config_error(tmp_path, {})

    assert message.startswith("incomplete AI Core settings: ")
    assert "AICORE_BASE_URL" in message
    assert (
        "no resource group: pass resource_group=, set AICORE_RESOURCE_GROUP "
        "or add it to the config file" in message
    )
    assert "no credentials" in message
    assert "AICORE_TOKEN" in message
    assert message.endswith(
        "Looked in: arguments, environment, AICORE_SERVICE_KEY (not set), "
        "~/.aicore/config.json (not found), VCAP_SERVICES (not set)."
    )


@pytest.mark.parametrize(
    "variable",
    ["AICORE_BASE_URL", "AICORE_CLIENT_ID", "AICORE_CLIENT_SECRET", "AICORE_AUTH_URL"],
)
def test_each_missing_setting_is_named(tmp_path, variable):
    """Leaving out one required variable names exactly that variable."""
    environ = {k: v for k, v in ENV.items() if k != variable}

    message = config_error(tmp_path, environ)

    assert variable in message
    others = {"AICORE_BASE_URL", "AICORE_CLIENT_ID", "AICORE_CLIENT_SECRET", "AICORE_AUTH_URL"}
    for other in others - {variable}:
        assert other not in message


def test_a_missing_resource_group_is_named(tmp_path):
    """Without a resource group the error says how to give one."""
    environ = {k: v for k, v in ENV.items() if k != "AICORE_RESOURCE_GROUP"}

    message = config_error(tmp_path, environ)

    assert message.startswith(
        "incomplete AI Core settings: no resource group: pass resource_group=, "
        "set AICORE_RESOURCE_GROUP or add it to the config file. Looked in:"
    )


@pytest.mark.parametrize("group", ["my group", "tab\tgroup", "line\nbreak", "bell\x07"])
def test_a_resource_group_with_whitespace_or_control_characters_is_refused(tmp_path, group):
    """Resource groups travel in a header: no whitespace, no control characters."""
    message = config_error(tmp_path, {**ENV, "AICORE_RESOURCE_GROUP": group})

    assert message.startswith("AICORE_RESOURCE_GROUP contains ")


# --- static token ----------------------------------------------------------------------------


def test_a_static_token_needs_no_client_credentials(tmp_path):
    """AICORE_TOKEN alone, with a URL and resource group, is complete."""
    environ = {
        "AICORE_TOKEN": TOKEN,
        "AICORE_BASE_URL": "https://api.example.com",
        "AICORE_RESOURCE_GROUP": "g",
    }

    assert resolve(tmp_path, environ) == Settings(
        base_url="https://api.example.com/v2",
        token=TOKEN,
        resource_group="g",
        sources=("environment",),
    )


def test_a_token_argument_overrides_client_credentials_from_lower_layers(tmp_path):
    """token= wins over client credentials from the environment, which are dropped."""
    settings = resolve(tmp_path, ENV, token=TOKEN)

    assert settings.token == TOKEN
    assert (settings.client_id, settings.client_secret, settings.auth_url) == (None, None, None)


def test_client_credential_arguments_override_a_token_from_the_environment(tmp_path):
    """Explicit client credentials win over AICORE_TOKEN from a lower layer."""
    environ = {**ENV, "AICORE_TOKEN": TOKEN}

    settings = resolve(tmp_path, environ, client_id="arg-client", client_secret=SECRET)

    assert settings.token is None
    assert settings.client_id == "arg-client"
    assert settings.auth_url == "https://env-auth.example.com/oauth/token"


@pytest.mark.parametrize("client", [{"client_id": "id"}, {"client_secret": SECRET}])
def test_token_and_client_credentials_as_arguments_conflict(tmp_path, client):
    """Passing a token and client credentials explicitly is an error."""
    message = config_error(tmp_path, ENV, token=TOKEN, **client)

    assert message.startswith(
        "conflicting credentials in arguments: a static token and client credentials"
    )


def test_token_and_client_secret_in_one_layer_conflict(tmp_path):
    """One layer may not set two kinds of credentials either."""
    message = config_error(tmp_path, {**ENV, "AICORE_TOKEN": TOKEN})

    assert message.startswith("conflicting credentials in environment:")
    assert "AICORE_TOKEN" in message


def test_a_token_with_control_characters_is_refused(tmp_path):
    """A token that would split the Authorization header is refused, unquoted."""
    environ = {
        "AICORE_TOKEN": f"{TOKEN}\r\nX-Evil: 1",
        "AICORE_BASE_URL": "https://api.example.com",
        "AICORE_RESOURCE_GROUP": "g",
    }

    assert config_error(tmp_path, environ) == "AICORE_TOKEN contains control characters"


# --- X.509 -----------------------------------------------------------------------------------


def make_cert_files(tmp_path, *, key_mode=0o600):
    cert = tmp_path / "client.crt"
    key = tmp_path / "client.key"
    cert.write_text(CERT_PEM, encoding="utf-8")
    key.write_text(KEY_PEM, encoding="utf-8")
    key.chmod(key_mode)
    return cert, key


def test_x509_with_certificate_files(tmp_path):
    """A client id, certificate and key files and a cert URL are complete."""
    cert, key = make_cert_files(tmp_path)
    environ = {
        "AICORE_CLIENT_ID": "cert-client",
        "AICORE_CERT_URL": "https://cert-auth.example.com",
        "AICORE_CERT_FILE_PATH": str(cert),
        "AICORE_KEY_FILE_PATH": str(key),
        "AICORE_BASE_URL": "https://api.example.com",
        "AICORE_RESOURCE_GROUP": "g",
    }

    assert resolve(tmp_path, environ) == Settings(
        base_url="https://api.example.com/v2",
        client_id="cert-client",
        cert_url="https://cert-auth.example.com/oauth/token",
        cert_file=str(cert),
        key_file=str(key),
        resource_group="g",
        sources=("environment",),
    )


def test_x509_file_arguments_override_a_secret_from_the_environment(tmp_path):
    """cert_file= and key_file= win over a client secret from a lower layer."""
    cert, key = make_cert_files(tmp_path)

    settings = resolve(tmp_path, ENV, cert_file=str(cert), key_file=str(key))

    assert settings.client_secret is None
    assert settings.key_file == str(key)
    assert settings.auth_url == "https://env-auth.example.com/oauth/token"


@posix_only
def test_a_world_readable_key_file_is_warned_about(tmp_path):
    """Like ssh, a private key readable by others earns a chmod 600 warning."""
    warnings: list[str] = []
    cert, key = make_cert_files(tmp_path, key_mode=0o644)

    resolve(tmp_path, ENV, cert_file=str(cert), key_file=str(key), warnings=warnings)

    assert warnings == [f"{key} is readable by other users; chmod 600 it"]


@pytest.mark.parametrize("which", ["cert_file", "key_file"])
def test_a_missing_certificate_file_is_refused(tmp_path, which):
    """A certificate or key path that does not exist is an error naming it."""
    cert, key = make_cert_files(tmp_path)
    paths = {"cert_file": str(cert), "key_file": str(key), which: str(tmp_path / "gone.pem")}

    message = config_error(tmp_path, ENV, **paths)

    assert message.startswith(f"{which} names {tmp_path / 'gone.pem'}, which cannot be read")


def test_a_certificate_path_that_is_a_folder_is_refused(tmp_path):
    """A certificate path must name a regular file."""
    _, key = make_cert_files(tmp_path)

    message = config_error(tmp_path, ENV, cert_file=str(tmp_path), key_file=str(key))

    assert message == f"cert_file names {tmp_path}, which is not a file"


def test_x509_from_a_service_key(tmp_path):
    """An X.509 service key gives the certificate, key and cert URL as PEM text."""
    environ = {"AICORE_SERVICE_KEY": json.dumps(x509_key()), "AICORE_RESOURCE_GROUP": "g"}

    settings = resolve(tmp_path, environ)

    assert (settings.cert_pem, settings.key_pem) == (CERT_PEM, KEY_PEM)
    assert settings.cert_url == "https://cert-auth.example.com/oauth/token"
    assert settings.auth_url == "https://plain-auth.example.com/oauth/token"
    assert settings.client_secret is None


def test_pem_strings_with_escaped_newlines_are_unescaped(tmp_path):
    r"""AICORE_CERT_STR/AICORE_KEY_STR written on one line with literal \n become real PEM."""
    environ = {
        **ENV,
        "AICORE_CLIENT_SECRET": "",
        "AICORE_CERT_STR": CERT_PEM.replace("\n", "\\n"),
        "AICORE_KEY_STR": KEY_PEM.replace("\n", "\\n"),
    }

    settings = resolve(tmp_path, environ)

    assert (settings.cert_pem, settings.key_pem) == (CERT_PEM, KEY_PEM)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"AICORE_CERT_FILE_PATH": "c.pem"}, "a certificate without its key"),
        ({"AICORE_KEY_FILE_PATH": "k.pem"}, "a key without its certificate"),
        ({"AICORE_CERT_STR": CERT_PEM}, "a certificate without its key"),
        ({"AICORE_KEY_STR": KEY_PEM}, "a key without its certificate"),
    ],
)
def test_a_certificate_without_its_key_is_refused(tmp_path, given, expected):
    """Half a certificate pair is an error that names the missing half."""
    environ = {**ENV, "AICORE_CLIENT_SECRET": "", **given}

    assert expected in config_error(tmp_path, environ)


def test_x509_without_a_token_url_is_refused(tmp_path):
    """A certificate needs AICORE_CERT_URL or AICORE_AUTH_URL."""
    environ = {
        "AICORE_CLIENT_ID": "id",
        "AICORE_CERT_STR": CERT_PEM,
        "AICORE_KEY_STR": KEY_PEM,
        "AICORE_BASE_URL": "https://api.example.com",
        "AICORE_RESOURCE_GROUP": "g",
    }

    message = config_error(tmp_path, environ)

    assert "missing AICORE_CERT_URL (or AICORE_AUTH_URL)" in message


def test_a_secret_and_a_certificate_in_one_layer_conflict(tmp_path):
    """Client secret and certificate in the same layer are ambiguous."""
    environ = {**ENV, "AICORE_CERT_STR": CERT_PEM, "AICORE_KEY_STR": KEY_PEM}

    message = config_error(tmp_path, environ)

    assert message.startswith(
        "conflicting credentials in environment: a client secret and certificate strings"
    )


# --- secrets ---------------------------------------------------------------------------------


def test_repr_hides_every_secret(tmp_path):
    """repr(Settings) shows neither secret, token, key nor certificate text."""
    settings = Settings(
        base_url="https://api.example.com/v2",
        client_secret=SECRET,
        token=TOKEN,
        cert_pem=CERT_PEM,
        key_pem=KEY_PEM,
        resource_group="g",
    )

    text = repr(settings)

    assert "https://api.example.com/v2" in text
    for leak in LEAKS:
        assert leak not in text


def test_an_x509_certificate_that_does_not_load_is_a_configuration_error(tmp_path, monkeypatch):
    """A certificate or key that ssl cannot load fails when the client is built, naming neither."""
    cert, key = make_cert_files(tmp_path)  # PEM armour around a body that is no certificate
    for name, value in {
        "AICORE_CLIENT_ID": "cert-client",
        "AICORE_CERT_URL": "https://cert-auth.example.com",
        "AICORE_CERT_FILE_PATH": str(cert),
        "AICORE_KEY_FILE_PATH": str(key),
        "AICORE_BASE_URL": "https://api.example.com",
        "AICORE_RESOURCE_GROUP": "g",
        "HOME": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError) as caught:
        BulkClient.from_env()

    assert str(caught.value).startswith("cannot load the X.509 client certificate and key: ")
    assert not any(leak in str(caught.value) for leak in LEAKS)
