"""Staff access tests reuse the progress ingest fixture (signed events from a registered business system)."""

from tests.progress.conftest import ingest  # noqa: F401
