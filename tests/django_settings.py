"""Plain Django settings for ring-1 tests: no InvenTree, a real SQLite database."""

SECRET_KEY = "notify-plus-tests"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "inventree_notify_plus",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "notify_plus_tests.sqlite3",
        "TEST": {"NAME": "notify_plus_tests.sqlite3"},
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = 1
DEFAULT_FROM_EMAIL = "inventree@example.com"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
