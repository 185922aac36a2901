import os

APP_ENV_AT_IMPORT = os.environ.get("APP_ENV")


def test_env_unset_at_import():
    assert APP_ENV_AT_IMPORT is None
