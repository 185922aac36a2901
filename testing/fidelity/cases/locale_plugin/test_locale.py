import locale
import os

import pytest


@pytest.mark.parametrize("i", range(3))
def test_locale(i):
    os.makedirs("out", exist_ok=True)
    with open(os.path.join("out", f"{i}.txt"), "w") as f:
        f.write(
            f"{os.environ.get('LC_ALL')} {locale.setlocale(locale.LC_CTYPE)} "
            f"{locale.getpreferredencoding(False)}\n"
        )
