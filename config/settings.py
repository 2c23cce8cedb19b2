"""Settings read from the environment (django-environ).

With nothing set the app runs on one machine: SQLite in the project folder and
Celery's filesystem broker. DATABASE_URL and CELERY_BROKER_URL switch it to
PostgreSQL and Redis. DJANGO_ENV=production requires SECRET_KEY and
ALLOWED_HOSTS and turns on the secure defaults that `check --deploy` expects.
"""

from datetime import date, timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

if PRODUCTION:
    for required in ("SECRET_KEY", "ALLOWED_HOSTS"):
        if not env.str(required, default=""):
            raise ImproperlyConfigured(f"DJANGO_ENV=production requires {required} to be set.")
    SECRET_KEY = env.str("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
    DEBUG = False
else:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-in-production")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
    DEBUG = env.bool("DEBUG", default=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "nested_admin",
    "axes",
    "customers",
    "agents",
    "billing",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server, the worker and beat share the file;
    # IMMEDIATE transactions take the write lock when they begin, so a second writer
    # waits (up to the timeout) instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Django's cursors bind parameters on the client and never prepare; the few hot reads
    # that ask for a server-binding cursor (selectors.balance_lookup) are prepared after 5
    # runs on a connection. Off (DATABASE_PREPARED_STATEMENTS=false) behind a pooler in
    # transaction mode, which cannot keep them.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login throttling (django-axes) ---------------------------------------------
# The admin's login form: after AXES_FAILURE_LIMIT wrong passwords for one username from
# one IP address, that pair is refused (even with the right password) for the cool-off.
# Locking the pair, not the IP alone, keeps colleagues behind one office NAT working
# while someone guesses a password; attempts live in the database, so every gunicorn
# worker sees them. A successful login resets the count. Unlock early in the admin
# (Axes > Access attempts) or with `manage.py axes_reset_username NAME`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
# Outside production whitenoise serves from the apps' static folders, looking files up
# per request, so STATIC_ROOT (filled by collectstatic in production) need not exist.
WHITENOISE_AUTOREFRESH = not PRODUCTION

# --- Security (production) ---------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- E-mail --------------------------------------------------------------------
# EMAIL_BACKEND: a dotted path or smtp, console, file, locmem. Unconfigured (`make run`):
# the console, as before; invoices carry a PDF, so set EMAIL_BACKEND=file to keep each
# message whole in EMAIL_FILE_PATH (.mail/, gitignored) rather than as base64 in the log.
# In production the default is SMTP: a delivery is sent at most once, so an invoice
# "sent" to a console nobody reads would never be sent again.
EMAIL_BACKENDS = {
    name: f"django.core.mail.backends.{name}.EmailBackend"
    for name in ("smtp", "console", "file", "locmem")
}
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="smtp" if PRODUCTION else "console")
EMAIL_BACKEND = EMAIL_BACKENDS.get(EMAIL_BACKEND, EMAIL_BACKEND)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / ".mail"))
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="billing@localhost")
# An invoice e-mail or reminder is tried this many times (backoff 2, 4, 8... minutes,
# at most an hour apart), then marked failed for Finance to resend.
INVOICE_DELIVERY_MAX_ATTEMPTS = env.int("INVOICE_DELIVERY_MAX_ATTEMPTS", default=8)
# Days overdue at which a reminder is sent, once each.
INVOICE_REMINDER_DAYS = [
    int(d) for d in env.list("INVOICE_REMINDER_DAYS", default=["7", "30", "60"])
]

# --- Celery --------------------------------------------------------------------
CELERY_DATA_DIR = Path(env.str("CELERY_DATA_DIR", default=str(BASE_DIR / ".celery")))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Messages and the exchange tables (kombu's default for those is ./control, in
    # whichever folder the process started); config/celery.py creates the folders.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "out"),
        "data_folder_out": str(CELERY_DATA_DIR / "out"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
    }
else:
    # The time limit of a task stays below the visibility timeout, so a task
    # that is still running is never handed to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DATA_DIR / "beat-schedule")
ATTACH_UNATTRIBUTED_INTERVAL = timedelta(
    seconds=env.int("ATTACH_UNATTRIBUTED_INTERVAL_SECONDS", default=600)
)
CLOSE_DUE_PERIODS_INTERVAL = timedelta(
    seconds=env.int("CLOSE_DUE_PERIODS_INTERVAL_SECONDS", default=300)
)
# PostgreSQL statement_timeout inside a close: a close whose client died stops within
# this time and releases the period's lock.
CLOSING_STATEMENT_TIMEOUT_SECONDS = env.int("CLOSING_STATEMENT_TIMEOUT_SECONDS", default=600)
# The live balance (billing/balances.py): beat recomputes changed customers every
# BALANCE_REFRESH_SECONDS; the API serves a stored balance only while it is younger than
# BALANCE_LAG_SECONDS (the bound its responses state), else computes one at once.
BALANCE_REFRESH_SECONDS = env.int("BALANCE_REFRESH_SECONDS", default=10)
BALANCE_LAG_SECONDS = env.int("BALANCE_LAG_SECONDS", default=30)
CELERY_BEAT_SCHEDULE = {
    "refresh-balances": {
        "task": "billing.tasks.refresh_balances",
        "schedule": timedelta(seconds=BALANCE_REFRESH_SECONDS),
        # A run still queued when the next is due is dropped: never a backlog.
        "options": {"expires": BALANCE_REFRESH_SECONDS},
    },
    "close-due-periods": {
        "task": "billing.tasks.close_due_periods",
        "schedule": CLOSE_DUE_PERIODS_INTERVAL,
    },
    "requeue-invoice-deliveries": {
        "task": "billing.tasks.requeue_deliveries",
        "schedule": timedelta(minutes=5),
    },
    "send-invoice-reminders": {
        "task": "billing.tasks.send_reminders",
        "schedule": timedelta(hours=1),
    },
    "requeue-webhook-deliveries": {
        "task": "webhooks.tasks.requeue_webhook_deliveries",
        "schedule": timedelta(minutes=1),
    },
    "create-recurring-credit-grants": {
        "task": "billing.tasks.create_recurring_grants",
        "schedule": timedelta(hours=1),
    },
    "expire-credit-grants": {
        "task": "billing.tasks.expire_credit_grants",
        "schedule": timedelta(hours=1),
    },
    "attach-unattributed-signals": {
        "task": "agents.tasks.attach_unattributed_signals",
        "schedule": ATTACH_UNATTRIBUTED_INTERVAL,
    },
}

# --- REST framework --------------------------------------------------------------
REST_FRAMEWORK = {
    # Staff read the API with their admin session or a token; agents' write endpoints
    # name their own API-key authentication.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # `Token <key>`, stored hashed (agents.StaffAPIKey; DRF's authtoken stored it plain).
        "agents.api.staff_authentication.StaffTokenAuthentication",
    ],
    # As the admin: staff with the model's permission, `view_` to read (config/permissions.py).
    "DEFAULT_PERMISSION_CLASSES": ["config.permissions.StaffModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "config.openapi.ApiSchema",
    "DEFAULT_PAGINATION_CLASS": "config.api.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.api.exception_handler",
}

# Signals and costs may not be dated before this day (nor more than 5 minutes ahead).
SIGNALS_EARLIEST_DATE = date.fromisoformat(env.str("SIGNALS_EARLIEST_DATE", default="2000-01-01"))
API_KEY_THROTTLE_RATE = env.str("API_KEY_THROTTLE_RATE", default="1000/second")
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=5)
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REPORTING_CURRENCY = env.str("REPORTING_CURRENCY", default="USD")
STATEMENT_LINK_DAYS = env.int("STATEMENT_LINK_DAYS", default=30)
MARGIN_ALERT_EMAILS = env.list("MARGIN_ALERT_EMAILS", default=[])
# Finance's mailbox(es), besides the active users of the Finance group (webhook endpoints
# disabled after failures are reported there).
FINANCE_EMAILS = env.list("FINANCE_EMAILS", default=[])

# --- Outbound webhooks (webhooks/, docs/webhooks.md) -------------------------------
# Seconds one attempt may take (connect, send, each read); redirects are never followed.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10)
# An endpoint is disabled after this many failed attempts in a row (any events).
WEBHOOK_DISABLE_AFTER_FAILURES = env.int("WEBHOOK_DISABLE_AFTER_FAILURES", default=20)
# A delivery is retried with backoff (1 min, 2, 4... at most 1 h apart) for this long.
WEBHOOK_RETRY_FOR = timedelta(hours=env.int("WEBHOOK_RETRY_FOR_HOURS", default=24))
# Endpoints on private, loopback, link-local or reserved addresses: refused unless this
# is on (it is by default outside production, where receivers run on localhost).
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=DEBUG)

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

# /api/schema/ and /api/docs/: anyone in development, staff only in production
# (config.api.ApiDocsPermission reads this per request).
API_DOCS_PUBLIC = env.bool("API_DOCS_PUBLIC", default=not PRODUCTION)

SPECTACULAR_SETTINGS = {
    "TITLE": "Outcome billing API",
    "DESCRIPTION": "Agents post signals and costs; staff read what was recorded.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.refuse_unknown_fields",
    ],
    # Swagger UI from our own static files (drf-spectacular-sidecar), not a CDN: the
    # docs work offline and behind a strict firewall.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would send the schema to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Paid's order fields billingFrequency and billingFrequencyOverride.frequency: one enum.
    "ENUM_NAME_OVERRIDES": {
        "BillingFrequencyEnum": "billing.api.paid_order_requests.FREQUENCIES",
        "CreditGrantKindEnum": "billing.models.credits.GrantKind",
        "CreditGrantUnitEnum": "billing.models.credits.GrantUnit",
        "CreditGrantSourceEnum": "billing.models.credits.GrantSource",
        "CreditLedgerKindEnum": "billing.models.credits.LedgerKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # WeasyPrint logs each rendering step at INFO: seven lines per PDF in a worker's log.
    "loggers": {"weasyprint.progress": {"level": "WARNING"}},
}
