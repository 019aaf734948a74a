from tests.booking.conftest import clock  # noqa: F401  (the pinned booking clock)
