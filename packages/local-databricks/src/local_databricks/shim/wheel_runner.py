"""Runs a python_wheel_task: an entry point of an installed distribution (local-databricks).

argv: [wheel_runner.py, <package_name>, <entry_point>, *parameters]. The entry point is looked up
in the distribution's entry points (console_scripts first, then any group); sys.argv becomes
[<package_name>, *parameters] as on Databricks.
"""

import sys
from importlib import metadata


def main():
    """Load and call the entry point; its return value becomes the exit code."""
    package, entry_name, parameters = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        alt = package.replace("_", "-")
        try:
            dist = metadata.distribution(alt)
        except metadata.PackageNotFoundError:
            print(f"Package {package} is not installed in {sys.executable}.", file=sys.stderr)
            return 1
    points = sorted(
        (ep for ep in dist.entry_points if ep.name == entry_name),
        key=lambda ep: ep.group != "console_scripts",
    )
    if not points:
        print(f"Entry point {entry_name} not found in package {package}.", file=sys.stderr)
        return 1
    func = points[0].load()
    sys.argv = [package, *parameters]
    result = func()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
