"""Credentials come only from the environment variables of the chosen auth method, and a
workspace that cannot be reached is explained without any secret."""

import socket

import dagster as dg
import pytest
import requests
from databricks.sdk.errors import TemporarilyUnavailable, TooManyRequests
from local_databricks.proxy import ForwardingProxy

from brickpipes import AUTH_METHODS, DatabricksWorkspace

METHODS = sorted(AUTH_METHODS)


def configured_variables(workspace: DatabricksWorkspace) -> set[str]:
    """The environment variables the resource reads its fields from."""
    return {
        value.env_var_name for value in workspace.__dict__.values() if isinstance(value, dg.EnvVar)
    }


def variables_of(method: str) -> tuple[str, ...]:
    return tuple(AUTH_METHODS[method].variables.values())


def test_the_auth_methods_are_the_four_documented() -> None:
    assert METHODS == ["azure-client-secret", "oauth-m2m", "pat", "profile"]


@pytest.mark.parametrize("method", METHODS)
def test_every_auth_method_reads_only_its_variables(method: str) -> None:
    workspace = DatabricksWorkspace.from_env(method)  # type: ignore[arg-type]
    assert workspace.auth_method == method
    assert configured_variables(workspace) == set(variables_of(method))
    # No other auth method's variable, whatever the environment holds.
    others = {v for m in METHODS if m != method for v in variables_of(m)} - set(
        variables_of(method)
    )
    assert not configured_variables(workspace) & others


def test_settings_other_than_credentials_are_fields() -> None:
    workspace = DatabricksWorkspace.from_env("pat", retry_timeout_seconds=7)
    assert workspace.retry_timeout_seconds == 7
    assert configured_variables(workspace) == {"DATABRICKS_HOST", "DATABRICKS_TOKEN"}


@pytest.mark.parametrize("method", METHODS)
def test_missing_variable_fails_the_run_and_names_it(method: str) -> None:
    @dg.asset
    def needs_databricks(databricks_workspace: DatabricksWorkspace) -> None:
        raise AssertionError("must not run without credentials")

    resources = {"databricks_workspace": DatabricksWorkspace.from_env(method)}  # type: ignore[arg-type]
    with pytest.raises(Exception, match=variables_of(method)[0]):
        dg.materialize([needs_databricks], resources=resources)


@pytest.mark.parametrize("method", METHODS)
def test_description_never_contains_secret_values(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in variables_of(method):
        monkeypatch.setenv(name, f"secret-value-of-{name}")
    workspace = DatabricksWorkspace.from_env(method)  # type: ignore[arg-type]
    text = workspace.process_config_and_initialize().describe_auth()
    assert "secret-value-of" not in text
    assert f"auth_method={method}" in text
    assert all(name in text for name in variables_of(method))


def network_error(kind: str) -> BaseException:
    """A real error of ``kind`` from requests (no retries), or the SDK's after its retries."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    if kind in ("429", "503"):
        given_up = TimeoutError("Timed out after 0:00:30")  # as databricks/sdk/retries.py raises
        given_up.__cause__ = (TooManyRequests if kind == "429" else TemporarilyUnavailable)("-")
        return given_up
    session = requests.Session()
    session.trust_env = False  # the developer's own proxy settings must not change the error
    try:
        if kind == "tls":
            with ForwardingProxy() as plain_http:  # a listener that speaks no TLS
                session.get(plain_http.url.replace("http://", "https://"), timeout=10)
        elif kind == "proxy":
            session.get("https://example.invalid", proxies={"https": f"http://{closed}"})
        elif kind == "dns":
            session.get("http://no-such-workspace.invalid", timeout=10)
        else:
            session.get(f"http://{closed}", timeout=10)
    except requests.RequestException as error:
        return error
    raise AssertionError(f"no {kind} error")


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("refused", "the connection was refused"),
        ("dns", "the host name does not resolve"),
        ("tls", "the TLS handshake failed"),
        ("proxy", "the proxy failed"),
        ("503", "it kept answering 503 Temporarily Unavailable"),
        ("429", "it kept answering 429 Too Many Requests"),
    ],
)
def test_unreachable_workspace_is_explained_without_secrets(
    monkeypatch: pytest.MonkeyPatch, kind: str, what: str
) -> None:
    for name in variables_of("oauth-m2m"):
        monkeypatch.setenv(name, f"secret-value-of-{name}")
    monkeypatch.setenv("DATABRICKS_HOST", "https://adb-1.2.azuredatabricks.net")
    workspace = DatabricksWorkspace.from_env("oauth-m2m").process_config_and_initialize()
    failure = workspace.unreachable(network_error(kind))
    assert failure is not None
    text = failure.description or ""
    assert text.startswith(
        "Cannot use Databricks at https://adb-1.2.azuredatabricks.net (auth_method=oauth-m2m"
    )
    assert what in text and "Check " in text
    assert "secret-value-of" not in text


def test_a_profile_is_explained_with_the_host_it_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    config = tmp_path / "databrickscfg"
    config.write_text("[team]\nhost = https://adb-3.4.azuredatabricks.net\ntoken = secret-x\n")
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(config))
    monkeypatch.setenv("DATABRICKS_CONFIG_PROFILE", "team")
    workspace = DatabricksWorkspace.from_env("profile").process_config_and_initialize()
    failure = workspace.unreachable(network_error("refused"))
    assert failure is not None
    text = failure.description or ""
    assert text.startswith("Cannot use Databricks at https://adb-3.4.azuredatabricks.net")
    assert "Check the profile's host" in text
    assert "secret-x" not in text


def test_other_errors_are_not_called_unreachable() -> None:
    workspace = DatabricksWorkspace.from_env("pat")
    assert workspace.unreachable(ValueError("bad input")) is None
