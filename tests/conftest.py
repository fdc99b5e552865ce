"""Settings for the whole suite."""

from __future__ import annotations

from hypothesis import settings

# The machines are shared and noisy: a property test checks what happens, never how fast (hypothesis's default
# 200 ms deadline per example turned a loaded machine into failures of correct code).
settings.register_profile("smartcity", deadline=None)
settings.load_profile("smartcity")
