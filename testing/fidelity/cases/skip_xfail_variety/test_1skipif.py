import sys

import pytest

pytestmark = pytest.mark.skipif(sys.version_info > (3,), reason="always on py3")


def test_a():
    pass


def test_b():
    pass
