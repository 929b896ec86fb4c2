"""Answer sets the suite renders: every choice of every question at least once (pairwise)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

# A render whose toolchain the suite runs for real: defaults plus one render per value of
# cloud, auth_method and compute (and both transports, Python ends, examples off, each CI,
# Dagster+ deploy files with GitHub and with GitLab).
# Every question answered (as `--data` strings), so that a copy asks nothing: the prompt and
# unattended-verification tests start from it.
EVERY_ANSWER: dict[str, str] = {
    "project_name": "Sales Analytics",
    "project_slug": "sales-analytics",
    "package_name": "sales_analytics",
    "description": "Sales tables",
    "author_name": "Data Platform Team",
    "author_email": "data-platform@example.com",
    "python_version": "3.12",
    "cloud": "aws",
    "databricks_host": "",
    "auth_method": "pat",
    "compute": "job-cluster",
    "pipes_transport": "volumes",
    "catalog": "main",
    "schema": "sales",
    "pipes_volume": "/Volumes/main/sales/dagster_pipes",
    "ci": "none",
    "deploy": "none",
    "include_examples": "false",
}
TOOLCHAIN_CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "azure-serverless": {
        "project_name": "Azure Lakehouse",
        "cloud": "azure",
        "auth_method": "azure-client-secret",
        "compute": "serverless",
        "ci": "gitlab",
        "deploy": "dagster-plus",
        "python_version": "3.11",
        "databricks_host": "https://adb-1234567890123456.7.azuredatabricks.net",
    },
    "gcp-existing-dbfs": {
        "project_name": "GCP Jobs",
        "cloud": "gcp",
        "auth_method": "oauth-m2m",
        "compute": "existing-cluster",
        "pipes_transport": "dbfs",
        "ci": "none",
        "python_version": "3.13",
        "catalog": "analytics",
        "schema": "bronze",
    },
    "aws-profile-bare": {
        "project_name": "Bare Skeleton",
        "auth_method": "profile",
        "pipes_transport": "dbfs",
        "include_examples": False,
        "deploy": "dagster-plus",
        "python_version": "3.10",
    },
}


def choice_values() -> dict[str, list[Any]]:
    """Every choice question of copier.yml with its values (bools count as two choices)."""
    questions = yaml.safe_load((ROOT / "copier.yml").read_text().split("\n---\n")[-1])
    values: dict[str, list[Any]] = {}
    for name, spec in questions.items():
        if isinstance(spec, dict) and "choices" in spec:
            choices = spec["choices"]
            found = choices.values() if isinstance(choices, dict) else choices
            # A choice with a validator is a mapping: {value: ..., validator: ...}.
            values[name] = [c["value"] if isinstance(c, dict) else c for c in found]
        elif isinstance(spec, dict) and spec.get("type") == "bool":
            values[name] = [True, False]
    return values


def is_valid(answers: dict[str, Any]) -> bool:
    """The cross-question rule of copier.yml: Azure service principals need Azure."""
    return not (
        answers.get("auth_method") == "azure-client-secret" and answers.get("cloud") != "azure"
    )


def pairwise_matrix() -> list[dict[str, Any]]:
    """Greedy all-pairs cover of the choice questions, skipping invalid combinations."""
    values = choice_values()
    names = sorted(values)
    uncovered = {
        (a, va, b, vb)
        for a, b in itertools.combinations(names, 2)
        for va in values[a]
        for vb in values[b]
        if is_valid({a: va, b: vb})
    }
    cases: list[dict[str, Any]] = []
    while uncovered:
        best, best_gain = None, -1
        for combo in itertools.product(*(values[n] for n in names)):
            case = dict(zip(names, combo, strict=True))
            if not is_valid(case):
                continue
            gain = sum(
                1
                for a, b in itertools.combinations(names, 2)
                if (a, case[a], b, case[b]) in uncovered
            )
            if gain > best_gain:
                best, best_gain = case, gain
        assert best is not None
        cases.append(best)
        uncovered -= {(a, best[a], b, best[b]) for a, b in itertools.combinations(names, 2)}
    return cases


def case_id(answers: dict[str, Any]) -> str:
    """A short, readable test id for an answer set."""
    return "-".join(str(v).lower().replace(".", "") for v in answers.values()) or "defaults"
