import os
from pathlib import Path

import pytest


def record(line):
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    with open(out / f"{os.getpid()}.txt", "a") as f:
        f.write(line + "\n")


@pytest.mark.django_db
def test_create_user():
    from django.contrib.auth.models import User

    User.objects.create_user("alice")
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_isolated():
    from django.contrib.auth.models import User

    assert User.objects.count() == 0


@pytest.mark.django_db
def test_db_name_has_worker_suffix(request):
    from django.db import connection

    worker = os.environ["PYTEST_XDIST_WORKER"]
    name = str(connection.settings_dict["NAME"])
    record(f"suffix {name.endswith('_' + worker)} prefix {Path(name).name.startswith('test_db.sqlite3')}")


def test_no_db_access():
    from django.contrib.auth.models import User

    with pytest.raises(RuntimeError, match="Database access not allowed"):
        User.objects.count()


def test_settings(settings):
    settings.SECRET_KEY = "changed"
    from django.conf import settings as real

    assert real.SECRET_KEY == "changed"
