"""The Databricks Runtime versions of the workspace: one list, served by `clusters/spark-versions`
and accepted by every cluster spec (`clusters/create|edit`, job clusters, `new_cluster`, pools).

Like the service, it keeps versions past the end of support until their end of life (12.2 LTS).
"""

from __future__ import annotations

from .errors import ApiError, invalid

# (major.minor, LTS, Apache Spark, Scala versions)
_RUNTIMES = (
    ("17.3", True, "4.0.0", ("2.13",)),
    ("17.2", False, "4.0.0", ("2.13",)),
    ("16.4", True, "3.5.2", ("2.12", "2.13")),
    ("15.4", True, "3.5.0", ("2.12",)),
    ("14.3", True, "3.5.0", ("2.12",)),
    ("13.3", True, "3.4.1", ("2.12",)),
    ("12.2", True, "3.3.2", ("2.12",)),
)


def _versions() -> list[tuple[str, str]]:
    versions = []
    for release, lts, spark, scalas in _RUNTIMES:
        label = f"{release} LTS" if lts else release
        for scala in scalas:
            detail = f"includes Apache Spark {spark}, Scala {scala}"
            versions.append((f"{release}.x-scala{scala}", f"{label} ({detail})"))
            versions.append((f"{release}.x-cpu-ml-scala{scala}", f"{label} ML ({detail})"))
            versions.append((f"{release}.x-gpu-ml-scala{scala}", f"{label} ML (GPU, {detail})"))
    return versions


SPARK_VERSIONS: list[tuple[str, str]] = _versions()
_KEYS = frozenset(key for key, _ in SPARK_VERSIONS)


def is_known(spark_version: str) -> bool:
    """True for a key `clusters/spark-versions` lists."""
    return spark_version in _KEYS


def version_error(spark_version: str) -> ApiError:
    """The service's answer to a cluster spec with a version it does not offer."""
    return invalid(f"Invalid spark version {spark_version}.")
