"""Qt fixtures for this feature's panel tests (offscreen, qasync, a real engine)."""

from tests.app.conftest import *  # noqa: F403
