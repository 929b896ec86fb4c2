"""Ephemeral job-cluster profiles: data in the project's ``clusters.yml``, validated by a
typed model.

The profiles are the project's own data; this module is their schema and loader. A bad
profile fails when the definitions load (so ``dg check defs`` catches it), with the file, the
profile and the field in the message.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Autoscale(BaseModel):
    """Worker range of an autoscaling cluster."""

    model_config = ConfigDict(extra="forbid")

    min_workers: int = Field(ge=1)
    max_workers: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Autoscale:
        if self.max_workers < self.min_workers:
            raise ValueError("max_workers must be >= min_workers")
        return self


class ClusterProfile(BaseModel):
    """The ``new_cluster`` fields a profile may set (Databricks ``ClusterSpec``)."""

    model_config = ConfigDict(extra="forbid")

    spark_version: str = Field(min_length=1)
    node_type_id: str = Field(min_length=1)
    driver_node_type_id: str | None = None
    num_workers: int | None = Field(default=None, ge=0)
    autoscale: Autoscale | None = None
    data_security_mode: str = "SINGLE_USER"
    spark_conf: dict[str, str] = Field(default_factory=dict)
    spark_env_vars: dict[str, str] = Field(default_factory=dict)
    custom_tags: dict[str, str] = Field(default_factory=dict)
    aws_attributes: dict[str, Any] | None = None
    azure_attributes: dict[str, Any] | None = None
    gcp_attributes: dict[str, Any] | None = None
    policy_id: str | None = None
    init_scripts: list[dict[str, Any]] = Field(default_factory=list)
    runtime_engine: str | None = None
    # Not part of the cluster: the run's timeout, covering cold start plus run time.
    timeout_seconds: int = Field(default=3600, ge=1)

    @model_validator(mode="after")
    def _sized(self) -> ClusterProfile:
        if (self.num_workers is None) == (self.autoscale is None):
            raise ValueError("set exactly one of num_workers and autoscale")
        return self

    def new_cluster(self) -> dict[str, Any]:
        """Return the ``new_cluster`` payload of a submitted task."""
        return self.model_dump(exclude={"timeout_seconds"}, exclude_none=True)

    def with_overrides(self, overrides: dict[str, Any] | None) -> ClusterProfile:
        """Return a copy with top-level fields replaced, validated like the file."""
        if not overrides:
            return self
        return ClusterProfile.model_validate({**self.model_dump(), **overrides})


class ClusterProfileError(ValueError):
    """A cluster profile that Databricks would reject; the message names file, profile, field."""


def _describe(error: ValidationError, path: Path, name: str) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(profile)'}: {err['msg']}"
        for err in error.errors()
    )
    return f"{path.name}: profile '{name}': {problems}"


@cache
def load_profiles(path: Path) -> dict[str, ClusterProfile]:
    """Read and validate every profile of ``path`` (cached: the file ships with the code)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ClusterProfileError(f"{path}: cannot read the cluster profiles: {error}") from None
    if not isinstance(raw, dict):
        raise ClusterProfileError(f"{path.name}: expected a mapping with 'profiles:'")
    profiles: dict[str, ClusterProfile] = {}
    for name, fields in (raw.get("profiles") or {}).items():
        try:
            profiles[name] = ClusterProfile.model_validate(fields)
        except ValidationError as error:
            raise ClusterProfileError(_describe(error, path, name)) from None
    if not profiles:
        raise ClusterProfileError(f"{path.name}: no profiles under 'profiles:'")
    return profiles


def get_profile(path: Path, name: str, overrides: dict[str, Any] | None = None) -> ClusterProfile:
    """Return profile ``name`` of ``path`` with ``overrides`` applied; unknown names list the
    valid ones."""
    profiles = load_profiles(path)
    if name not in profiles:
        valid = ", ".join(sorted(profiles))
        raise ClusterProfileError(f"{path.name}: unknown profile '{name}' (valid: {valid})")
    try:
        return profiles[name].with_overrides(overrides)
    except ValidationError as error:
        raise ClusterProfileError(_describe(error, path, name)) from None
