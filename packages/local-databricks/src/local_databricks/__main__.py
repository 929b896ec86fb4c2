"""`python -m local_databricks` runs the CLI."""

import sys

from .cli import main

sys.exit(main())
