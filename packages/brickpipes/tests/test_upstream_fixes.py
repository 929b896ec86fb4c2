"""Each workaround of upstream_fixes.py has behaviour tests and a canary. A canary asserts that
upstream still has the gap: when one fails after an upgrade, upstream fixed it, so delete the
workaround it names (and its tests).

Prompt Pipes message reads, once an override of dagster-databricks' readers, are part of
brickpipes' own readers by design (transport.py, tested in test_transport.py): no canary.
"""

import importlib.util
import re
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
from databricks.sdk import _base_client
from databricks.sdk.config import Config
from packaging.version import Version

from brickpipes import DatabricksWorkspace


def oauth_fetches(monkeypatch: pytest.MonkeyPatch, build) -> list[tuple[str, int]]:
    """The URLs ``build()`` fetches while it configures OAuth M2M for an unreachable
    workspace, each with the retry budget of the SDK client that fetches it."""
    fetches: list[tuple[str, int]] = []

    def fetch(client, method: str, url: str, *args: object, **kwargs: object) -> dict:
        fetches.append((url, client._retry_timeout_seconds))
        raise ConnectionError("not reached: the budgets are what this test checks")

    monkeypatch.setattr(_base_client._BaseClient, "do", fetch)
    with pytest.raises(Exception):  # noqa: B017 - any failure: only the budgets matter
        build()
    return fetches


def test_oauth_endpoints_are_fetched_within_the_project_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workaround 1: with OAuth M2M an unreachable workspace fails within retry_timeout_seconds.
    workspace = DatabricksWorkspace(
        auth_method="oauth-m2m",
        host="https://adb-1.azuredatabricks.net",
        client_id="test",
        client_secret="test",  # pragma: allowlist secret
        retry_timeout_seconds=7,
    )
    fetches = oauth_fetches(monkeypatch, workspace.get_client)
    assert fetches[:1] == [(f"{workspace.host}/oidc/{OAUTH_METADATA}", 7)], (
        "the first request must be the OAuth discovery, within the project's budget"
    )


OAUTH_METADATA = ".well-known/oauth-authorization-server"


def oldest_supported_sdk() -> str:
    """The lower bound of brickpipes' databricks-sdk requirement (its pyproject.toml)."""
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    match = re.search(r'"databricks-sdk>=([0-9.]+)', text)
    assert match, "pyproject.toml names no lower bound for databricks-sdk"
    return match.group(1)


def test_canary_sdk_still_ignores_the_retry_budget_for_oauth_endpoints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workaround 1: databricks-sdk-py issue 1046. Newer SDKs probe the host's metadata within
    # the budget first, which fails an unreachable workspace in time; the workaround stays as
    # long as the oldest supported SDK lacks that, so the canary decides at that end (CI runs
    # the suite at both ends of the range).
    def build() -> Config:
        return Config(
            host="https://adb-1.azuredatabricks.net",
            client_id="canary",
            client_secret="canary",  # pragma: allowlist secret
            auth_type="oauth-m2m",
            retry_timeout_seconds=7,
        )

    fetches = oauth_fetches(monkeypatch, build)
    assert fetches, "the SDK no longer fetches anything to configure OAuth M2M"
    # The first request that can wait on an unreachable host decides how long it holds.
    url, budget = next((url, budget) for url, budget in fetches if url)
    installed, oldest = version("databricks-sdk"), oldest_supported_sdk()
    if budget == 7 and Version(installed) != Version(oldest):
        pytest.skip(
            f"databricks-sdk {installed} configures OAuth within retry_timeout_seconds "
            f"({url}); workaround 1 stays while the oldest supported SDK ({oldest}) needs it"
        )
    assert url.endswith(OAUTH_METADATA) and budget != 7, (
        f"databricks-sdk {installed}, the oldest supported, now configures OAuth within "
        "retry_timeout_seconds: delete fetch_oauth_endpoints (workaround 1 of "
        "upstream_fixes.py), its call and its tests."
    )


needs_host_probe = pytest.mark.skipif(
    not hasattr(Config, "_resolve_host_metadata"),
    reason="this databricks-sdk does not probe the host's metadata while building a Config "
    "(workaround 2 applies to newer SDKs only; CI runs the suite at both ends of the range)",
)


@needs_host_probe
@pytest.mark.parametrize("auth_method", ["pat", "azure-client-secret"])
def test_an_unreachable_host_is_probed_once_within_the_budget_then_fails(
    monkeypatch: pytest.MonkeyPatch, auth_method: str
) -> None:
    # Workaround 2: the host is reached within retry_timeout_seconds before the SDK configures
    # itself, and a failure there ends get_client: no second budget for the first request.
    fields = (
        {"token": "t"}
        if auth_method == "pat"
        else {"azure_client_id": "a", "azure_client_secret": "s", "azure_tenant_id": "t"}
    )
    workspace = DatabricksWorkspace(
        auth_method=auth_method,  # type: ignore[arg-type]
        host="https://adb-1.azuredatabricks.net",
        retry_timeout_seconds=7,
        **fields,
    )
    fetches = oauth_fetches(monkeypatch, workspace.get_client)
    assert fetches == [(f"{workspace.host}/.well-known/databricks-config", 7)]


@needs_host_probe
def test_canary_sdk_still_goes_on_after_a_failed_host_metadata_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workaround 2: Config() spends a budget on an unreachable host's metadata and goes on, so
    # the first request spends another. When it raises instead, or no longer probes, delete
    # probe_host (workaround 2 of upstream_fixes.py), its call and its tests.
    probed: list[str] = []

    def unreachable(client, method: str, url: str, *args: object, **kwargs: object) -> dict:
        probed.append(url)
        raise ConnectionError("unreachable")

    monkeypatch.setattr(_base_client._BaseClient, "do", unreachable)
    message = "Config() {}: delete probe_host (workaround 2 of upstream_fixes.py) and its tests"
    try:
        Config(
            host="https://adb-1.azuredatabricks.net",
            token="canary",
            auth_type="pat",
            retry_timeout_seconds=7,
        )
    except Exception as error:
        pytest.fail(message.format(f"now fails on an unreachable host ({error!r})"))
    assert [url for url in probed if url.endswith("/.well-known/databricks-config")], (
        message.format("no longer probes the host's metadata")
    )


@pytest.mark.skipif(
    importlib.util.find_spec("dagster_databricks") is None,
    reason="dagster-databricks is not installed: brickpipes does not depend on it; the canary "
    "runs where a test environment adds it (the template's protocol and add-on tests)",
)
def test_canary_upstream_bootstrap_still_fails_on_a_shared_job_cluster() -> None:
    # Why runner.with_bootstrap exists instead of upstream's _enrich_submit_task_dict, and why
    # run_together works with dagster-databricks' PipesDatabricksClient out of the picture:
    # https://github.com/dagster-io/dagster/issues/22021.
    from dagster_databricks.pipes import PipesDatabricksClient

    upstream = PipesDatabricksClient(client=mock.MagicMock())
    session = SimpleNamespace(
        get_per_writer_bootstrap_env_vars=lambda: [{"DAGSTER_PIPES_CONTEXT": "x"}],
        get_per_writer_bootstrap_cli_arguments=lambda: [{"--dagster-pipes-context": "x"}],
        default_remote_invocation_info={},
    )
    task = {"task_key": "a", "job_cluster_key": "shared", "spark_python_task": {"python_file": "f"}}
    with pytest.raises(KeyError, match="new_cluster"):
        upstream._enrich_submit_task_dict(mock.MagicMock(), session, task)  # type: ignore[arg-type]
