"""Cluster profiles are data, validated with a message naming file, profile and field."""

from pathlib import Path

import pytest

from brickpipes.clusters import ClusterProfileError, get_profile, load_profiles

GENERAL = (
    "profiles:\n  general:\n    spark_version: 16.4.x-scala2.12\n    node_type_id: m5d.xlarge\n"
    "    autoscale: {min_workers: 1, max_workers: 4}\n"
    "    aws_attributes: {availability: SPOT_WITH_FALLBACK}\n"
    "  small:\n    spark_version: 16.4.x-scala2.12\n    node_type_id: m5d.large\n"
    "    num_workers: 0\n"
)


def write_profiles(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "clusters.yml"
    path.write_text(body)
    return path


def test_profiles_become_new_cluster_payloads(tmp_path: Path) -> None:
    profiles = load_profiles(write_profiles(tmp_path, GENERAL))
    assert profiles["small"].new_cluster()["num_workers"] == 0
    assert "aws_attributes" in profiles["general"].new_cluster()
    assert "timeout_seconds" not in profiles["general"].new_cluster()


def test_a_file_without_profiles_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterProfileError, match="no profiles under 'profiles:'"):
        load_profiles(write_profiles(tmp_path, "defaults: {}\n"))


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ClusterProfileError, match="expected a mapping with 'profiles:'"):
        load_profiles(write_profiles(tmp_path, "- a list\n"))


def test_unknown_key_names_profile_and_field(tmp_path: Path) -> None:
    path = write_profiles(
        tmp_path,
        "profiles:\n  tiny:\n    spark_version: x\n    node_type_id: y\n"
        "    num_workers: 0\n    num_wokers: 1\n",
    )
    with pytest.raises(ClusterProfileError, match=r"clusters.yml: profile 'tiny': num_wokers"):
        load_profiles(path)


def test_bad_worker_count_is_rejected(tmp_path: Path) -> None:
    path = write_profiles(
        tmp_path,
        "profiles:\n  neg:\n    spark_version: x\n    node_type_id: y\n    num_workers: -1\n",
    )
    with pytest.raises(ClusterProfileError, match="profile 'neg': num_workers"):
        load_profiles(path)


def test_missing_node_type_is_rejected(tmp_path: Path) -> None:
    path = write_profiles(
        tmp_path, "profiles:\n  bare:\n    spark_version: x\n    num_workers: 1\n"
    )
    with pytest.raises(ClusterProfileError, match="profile 'bare': node_type_id"):
        load_profiles(path)


def test_unknown_profile_lists_valid_names(tmp_path: Path) -> None:
    path = write_profiles(tmp_path, GENERAL)
    with pytest.raises(
        ClusterProfileError, match=r"unknown profile 'huge' \(valid: general, small\)"
    ):
        get_profile(path, "huge")


def test_overrides_are_validated_and_applied(tmp_path: Path) -> None:
    path = write_profiles(tmp_path, GENERAL)
    overrides = {"autoscale": {"min_workers": 2, "max_workers": 3}}
    assert get_profile(path, "general", overrides).autoscale
    with pytest.raises(ClusterProfileError, match="max_workers must be >= min_workers"):
        get_profile(path, "general", {"autoscale": {"min_workers": 4, "max_workers": 2}})
