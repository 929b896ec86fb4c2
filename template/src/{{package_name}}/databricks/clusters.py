"""Maintained by the template; changes arrive with `copier update`.

Ephemeral job-cluster profiles: data in ``clusters.yml``, validated by a typed model.

A bad profile fails when the definitions load (so ``dg check defs`` catches it), with the
file, the profile and the field in the message.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PROFILES_FILE = Path(__file__).with_name("clusters.yml")


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


def _describe(error: ValidationError, name: str) -> str:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(profile)'}: {err['msg']}"
        for err in error.errors()
    )
    return f"{PROFILES_FILE.name}: profile '{name}': {problems}"


@cache
def load_profiles(path: Path = PROFILES_FILE) -> dict[str, ClusterProfile]:
    """Read and validate every profile of the file (cached: the file ships with the code)."""
    raw = yaml.safe_load(path.read_text()) or {}
    profiles: dict[str, ClusterProfile] = {}
    for name, fields in (raw.get("profiles") or {}).items():
        try:
            profiles[name] = ClusterProfile.model_validate(fields)
        except ValidationError as error:
            raise ClusterProfileError(_describe(error, name)) from None
    if not profiles:
        raise ClusterProfileError(f"{path.name}: no profiles under 'profiles:'")
    return profiles


def get_profile(name: str, overrides: dict[str, Any] | None = None) -> ClusterProfile:
    """Return profile ``name`` with ``overrides`` applied; unknown names list the valid ones."""
    profiles = load_profiles()
    if name not in profiles:
        valid = ", ".join(sorted(profiles))
        raise ClusterProfileError(
            f"{PROFILES_FILE.name}: unknown profile '{name}' (valid: {valid})"
        )
    try:
        return profiles[name].with_overrides(overrides)
    except ValidationError as error:
        raise ClusterProfileError(_describe(error, name)) from None
