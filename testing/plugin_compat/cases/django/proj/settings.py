SECRET_KEY = "plugin-compat"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3", "TEST": {"NAME": "test_db.sqlite3"}}}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
