"""pytest fixtures for the Letterbox protocol tests."""
# SPDX-License-Identifier: ISC

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import lbtest  # noqa: E402


@pytest.fixture
def instance():
    """A fresh instance, not started."""
    inst = lbtest.Instance()
    try:
        yield inst
    finally:
        inst.cleanup()


@pytest.fixture
def running(instance):
    """A fresh instance, started and ready."""
    instance.start()
    yield instance
