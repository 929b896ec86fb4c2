"""``python -m local_databricks.bundle deploy|destroy ...`` runs `main`."""

from .cli import main

raise SystemExit(main())
