"""Settings for every environment, read from the process environment (django-environ).

With no environment at all the service runs embedded on one machine: SQLite under
``ZOO_DATA_DIR`` and a Celery broker on the local file system. ``DATABASE_URL`` and
``CELERY_BROKER_URL`` switch it to PostgreSQL and Redis/RabbitMQ; the README lists
every variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from core.devices import device_name_checked
from zoo_project import data

BASE_DIR = data.BASE_DIR

env = environ.Env()
data.read_env()  # a local .env file is optional; the process environment wins over it

# Created, with what must be in it, by zoo_project.data.prepare() (the entry points).
DATA_DIR = data.data_dir()
# Where ``manage.py zoo_bootstrap`` builds small random checkpoints for entries whose
# weights are missing (created on first use).
ZOO_CHECKPOINT_DIR = Path(
    env.str("ZOO_CHECKPOINT_DIR", default=str(DATA_DIR / "checkpoints"))
).resolve()

# Where ``manage.py zoo_pull`` puts the real weights it downloads (one folder per entry,
# staged under .staging/ until verified); the only command that downloads anything.
ZOO_WEIGHTS_DIR = Path(env.str("ZOO_WEIGHTS_DIR", default=str(DATA_DIR / "weights"))).resolve()
# Where ``zoo_pull`` finds the YOLO checkpoints ultralytics publishes (a URL per file:
# <base>/<name>.pt); the release is the one the installed ultralytics downloads from.
ZOO_YOLO_ASSETS_URL = env.str(
    "ZOO_YOLO_ASSETS_URL",
    default="https://github.com/ultralytics/assets/releases/download/v8.4.0",
).rstrip("/")

# Never fetch weights, fonts or packages at run time: every model loads from local disk.
# Set before any model library is imported (they read these at import).
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "0",
    "YOLO_VERBOSE": "0",
    "YOLO_CONFIG_DIR": str(DATA_DIR / "ultralytics"),
}.items():
    os.environ.setdefault(_name, _value)


def _secret_key() -> str:
    """The configured key, else the one ``prepare()`` generated in the data folder (empty
    if neither exists: Django then refuses to start, saying SECRET_KEY is not set).

    There is no built-in default key: a key in the source would be a shared secret.
    """
    key_file = data.secret_key_file()
    configured = env.str("SECRET_KEY", default="")
    return configured or (key_file.read_text().strip() if key_file.exists() else "")


SECRET_KEY = _secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Browser frontends served from another origin (both documents' clients are) may call
# the APIs from these origins, e.g. "http://localhost:3000"; none by default. Only the
# API answers with CORS headers, and never with credentials: a cross-origin caller
# authenticates with a token (Authorization header), not the session cookie.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/"
CORS_ALLOW_CREDENTIALS = False
CORS_EXPOSE_HEADERS = ["Location"]  # where a slow inference's outcome will be

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_prometheus",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "models_registry",
    "fleet",
    "latency",
    "inference",
    "dashboard",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "zoo_project.middleware.RejectNulBytes",
    "zoo_project.middleware.LimitRequestBodies",  # a 413 before the body is read
    "zoo_project.middleware.ContentSecurityPolicy",
    "corsheaders.middleware.CorsMiddleware",  # before anything that may answer early
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "zoo_project.urls"
WSGI_APPLICATION = "zoo_project.wsgi.application"

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

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file: wait for locks instead of failing,
    # take the write lock at BEGIN (no upgrade deadlocks), and let readers run beside
    # the writer.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    # A persistent connection is checked (one SELECT 1) at its first use in a request,
    # so a restarted database costs no failed request. bench.api_throughput measures
    # the check's price beside the status endpoints.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
# The same engines, instrumented by django-prometheus (queries, errors, connections).
_INSTRUMENTED = {
    f"django.db.backends.{vendor}": f"django_prometheus.db.backends.{vendor}"
    for vendor in ("postgresql", "sqlite3")
}
DATABASES["default"]["ENGINE"] = _INSTRUMENTED.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- I18N / time ----------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- REST framework and schema --------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: an anonymous caller then gets 401 with "WWW-Authenticate: Token".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.ReadOpenWriteStaff"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ZooAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Model Zoo",
    "DESCRIPTION": (
        "Runs a zoo of vision and vision-language models inside a memory budget. "
        'Serves the Model Zoo API (`/api/system/...`, errors as `{"detail": ...}`) and '
        'the Model Management API (`/api/models/...`, errors as `{"error": ...}`). '
        "Reads are open unless `ZOO_READS_REQUIRE_AUTH` is set; writes need a staff "
        "user's session (with its CSRF token) or `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery ---------------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded default: a broker that is just a folder, shared by web and worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- Request size ----------------------------------------------------------------------
# A whole request body (a batch of base64 frames, or multipart uploads) is refused past
# this with a JSON 413 before it is read; single images are held to ZOO_MAX_IMAGE_BYTES,
# a multipart file part as its bytes arrive (api.uploads), and a form to a batch's frames
# as file parts and a few fields (more is a 413 too).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("ZOO_MAX_REQUEST_BYTES", default=64 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024  # larger uploads spool to a temporary file
FILE_UPLOAD_HANDLERS = [
    "api.uploads.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("ZOO_MAX_FORM_FIELDS", default=100)

# --- Deployment security ----------------------------------------------------------------
# ZOO_PRODUCTION=true: the defaults of a site served over HTTPS behind a proxy that
# terminates TLS and sets X-Forwarded-Proto. Each setting below is also its own
# variable, which wins over the preset (README, "Production").
ZOO_PRODUCTION = env.bool("ZOO_PRODUCTION", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=ZOO_PRODUCTION)
# Probes and scrapers reach these over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=ZOO_PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=ZOO_PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if ZOO_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Trust the proxy's X-Forwarded-Proto (only behind a proxy that sets it, always).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env.bool("ZOO_TRUST_X_FORWARDED_PROTO", default=ZOO_PRODUCTION)
    else None
)
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# The Content-Security-Policy header on every page (empty: none). The dashboard and the
# admin load their scripts and styles from this site; some elements carry a style
# attribute (a memory bar's width), hence style-src-attr; the Swagger UI page also
# allows its inline style block (zoo_project.middleware.ContentSecurityPolicy).
ZOO_CSP = env.str(
    "ZOO_CSP",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "style-src-attr 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
)

# --- Model Zoo ------------------------------------------------------------------------
# Reads of both APIs are open by default, as the documents have them; set this to
# require a logged-in user (session or token) for reads too.
ZOO_READS_REQUIRE_AUTH = env.bool("ZOO_READS_REQUIRE_AUTH", default=False)
# The Model Management document has no authentication: its service sits behind the
# annotation tool's own server, which does the users' checks. True opens
# POST /api/models/select (and nothing else) to unauthenticated callers, for such a
# deployment; by default it needs a staff user like every write.
ZOO_OPEN_SELECT = env.bool("ZOO_OPEN_SELECT", default=False)
# Status documents are kept per web process under the status version (fleet.snapshots)
# and rebuilt only when it changes; off, every request builds them afresh.
ZOO_STATUS_SNAPSHOTS = env.bool("ZOO_STATUS_SNAPSHOTS", default=True)
# Overrides of the device probe, for a machine whose probe is wrong or absent.
ZOO_DEVICE = env.str("ZOO_DEVICE", default="")
ZOO_DEVICE_TOTAL_MEMORY_MB = env.int("ZOO_DEVICE_TOTAL_MEMORY_MB", default=0)
# The device this process's models go on (a worker's, or zoo_run's): cpu, cuda:N, sim:N.
# Empty: the probe's default device.
ZOO_WORKER_DEVICE = env.str("ZOO_WORKER_DEVICE", default="")
# A name that is not cpu, cuda:N or sim:N stops every process at start, saying so.
for _name, _device in (("ZOO_DEVICE", ZOO_DEVICE), ("ZOO_WORKER_DEVICE", ZOO_WORKER_DEVICE)):
    try:
        _device and device_name_checked(_device, source=_name)
    except ValueError as _exc:
        raise ImproperlyConfigured(str(_exc)) from None
# A simulated GPU's bus speed: a load then takes (MB counted) / this many seconds. 0: instant.
ZOO_SIM_LOAD_MB_PER_S = env.float("ZOO_SIM_LOAD_MB_PER_S", default=0.0)
# How often a worker heartbeats (and applies the idle policy).
ZOO_WORKER_HEARTBEAT_INTERVAL_S = env.float("ZOO_WORKER_HEARTBEAT_INTERVAL_S", default=5.0)
# A worker task's soft time limit: long enough for the largest model load plus its work.
ZOO_TASK_SOFT_TIME_LIMIT_S = env.int("ZOO_TASK_SOFT_TIME_LIMIT_S", default=900)
# Frames given by path must lie under this folder (never an arbitrary path).
ZOO_MEDIA_ROOT = Path(env.str("ZOO_MEDIA_ROOT", default=str(DATA_DIR / "media"))).resolve()
# A batch whose worker died is tried this many times in all before it fails with a reason.
ZOO_BATCH_MAX_ATTEMPTS = env.int("ZOO_BATCH_MAX_ATTEMPTS", default=3)
# How a worker orders the work waiting on its device: "model" (model-major: every waiting
# item of a model while it is loaded; see README "How work is ordered") or "arrival" (one
# item at a time, oldest first: each batch's models in turn, as messages used to run).
ZOO_WORK_ORDER = env.str("ZOO_WORK_ORDER", default="model")
# Work older than this is served next, resident model or not (nothing starves).
ZOO_MAX_WAIT_S = env.float("ZOO_MAX_WAIT_S", default=300.0)
# The scheduler looks for work this often even without a message (a lost one delays no more).
ZOO_SCHEDULER_POLL_S = env.float("ZOO_SCHEDULER_POLL_S", default=1.0)
# How long POST /api/models/infer waits for a worker before answering 503.
ZOO_INFER_WAIT_S = env.float("ZOO_INFER_WAIT_S", default=30.0)
# How long an unload waits for a model in use to be released before answering 409.
ZOO_UNLOAD_WAIT_S = env.float("ZOO_UNLOAD_WAIT_S", default=10.0)
# Limits of one enrichment batch.
ZOO_MAX_FRAMES_PER_BATCH = env.int("ZOO_MAX_FRAMES_PER_BATCH", default=64)
DATA_UPLOAD_MAX_NUMBER_FILES = ZOO_MAX_FRAMES_PER_BATCH  # a multipart batch's file parts
# A model fed frames or crops takes up to this many of a batch's in one forward pass.
ZOO_PREDICT_BATCH = env.int("ZOO_PREDICT_BATCH", default=8)
# OCR reads the plates a detector found in a vehicle's crop: at most this many per
# vehicle (the most confident first), none below this detector score; all in one pass.
ZOO_OCR_MAX_PLATES = env.int("ZOO_OCR_MAX_PLATES", default=3)
ZOO_OCR_MIN_SCORE = env.float("ZOO_OCR_MIN_SCORE", default=0.25)
ZOO_MAX_DETECTIONS_PER_FRAME = env.int("ZOO_MAX_DETECTIONS_PER_FRAME", default=100)
ZOO_MAX_IMAGE_BYTES = env.int("ZOO_MAX_IMAGE_BYTES", default=10 * 1024 * 1024)
ZOO_MAX_IMAGE_PIXELS = env.int("ZOO_MAX_IMAGE_PIXELS", default=40_000_000)
# All the frames of one request together (the worker decodes them as RGB: 3 bytes each),
# and what a worker holds decoded at once for the batches it serves together.
ZOO_MAX_REQUEST_PIXELS = env.int("ZOO_MAX_REQUEST_PIXELS", default=160_000_000)
# A worker whose heartbeat is older than this no longer counts as holding its models.
ZOO_WORKER_HEARTBEAT_TIMEOUT_S = env.int("ZOO_WORKER_HEARTBEAT_TIMEOUT_S", default=30)
# Latency: workers store their samples at least this often (seconds).
ZOO_LATENCY_FLUSH_INTERVAL_S = env.float("ZOO_LATENCY_FLUSH_INTERVAL_S", default=1.0)
# Raw samples are kept this many days (at least one: the history API looks back a day);
# the 5-minute and hourly roll-ups much longer. Workers prune once per interval.
ZOO_LATENCY_RAW_RETENTION_DAYS = max(1, env.int("ZOO_LATENCY_RAW_RETENTION_DAYS", default=7))
ZOO_LATENCY_ROLLUP_RETENTION_DAYS = max(
    ZOO_LATENCY_RAW_RETENTION_DAYS, env.int("ZOO_LATENCY_ROLLUP_RETENTION_DAYS", default=90)
)
ZOO_LATENCY_PRUNE_INTERVAL_S = env.int("ZOO_LATENCY_PRUNE_INTERVAL_S", default=3600)
# The decision log (loads, evictions, failures) is kept this many days, pruned likewise.
ZOO_EVENT_RETENTION_DAYS = max(1, env.int("ZOO_EVENT_RETENTION_DAYS", default=30))
# Finished batches (frames, detections, results) and finished inferences and loads are
# kept this many days after they finish, pruned likewise; image bytes go as work finishes.
ZOO_BATCH_RETENTION_DAYS = max(1, env.int("ZOO_BATCH_RETENTION_DAYS", default=7))
ZOO_INFERENCE_RETENTION_DAYS = max(1, env.int("ZOO_INFERENCE_RETENTION_DAYS", default=7))
# Remote models (video_summarization's server-run and external API options). A server-run
# option's OpenAI-compatible base URL: ZOO_SERVER_URL_<NAME>, its name upper-cased with
# every character but letters and digits an underscore (llama-4-scout:
# ZOO_SERVER_URL_LLAMA_4_SCOUT); it wins over the entry's server_url (the admin).
ZOO_SERVER_URL_PREFIX = "ZOO_SERVER_URL_"
ZOO_SERVER_URLS = {
    _name.removeprefix(ZOO_SERVER_URL_PREFIX): _value
    for _name, _value in os.environ.items()
    if _name.startswith(ZOO_SERVER_URL_PREFIX) and _value
}
# External API options: each provider's key and optional base URL, in the variables its
# official SDK reads (a base URL set here wins over the entry's server_url).
ZOO_PROVIDERS = {
    "anthropic": {
        "key_variable": "ANTHROPIC_API_KEY",
        "api_key": env.str("ANTHROPIC_API_KEY", default=""),
        "base_url": env.str("ANTHROPIC_BASE_URL", default=""),
    },
    "openai": {
        "key_variable": "OPENAI_API_KEY",
        "api_key": env.str("OPENAI_API_KEY", default=""),
        "base_url": env.str("OPENAI_BASE_URL", default=""),
    },
    "google": {
        "key_variable": "GEMINI_API_KEY",
        "api_key": env.str("GEMINI_API_KEY", default="") or env.str("GOOGLE_API_KEY", default=""),
        "base_url": env.str("GOOGLE_GEMINI_BASE_URL", default=""),
    },
}
# One remote call (connect, send the frames, answer) may take this long (seconds) before
# the inference fails with a 503; keep it under ZOO_TASK_SOFT_TIME_LIMIT_S.
ZOO_REMOTE_TIMEOUT_S = env.float("ZOO_REMOTE_TIMEOUT_S", default=120.0)
# Several-frame inference (video_summarization): at most this many frames, each held to
# ZOO_MAX_IMAGE_BYTES and ZOO_MAX_IMAGE_PIXELS, all together to ZOO_MAX_REQUEST_BYTES
# and ZOO_MAX_REQUEST_PIXELS; a prompt of at most ZOO_MAX_PROMPT_CHARS characters.
ZOO_MAX_SUMMARY_FRAMES = env.int("ZOO_MAX_SUMMARY_FRAMES", default=16)
ZOO_MAX_PROMPT_CHARS = env.int("ZOO_MAX_PROMPT_CHARS", default=4000)
# How often a worker probes the servers of the server-run options on its device
# (GET <base>/models), reserving their memory while they answer (seconds).
ZOO_SERVER_PROBE_INTERVAL_S = env.float("ZOO_SERVER_PROBE_INTERVAL_S", default=15.0)
# bench.api_throughput only: serve /api/bench/baseline, a minimal DRF view to compare with.
ZOO_BENCH_BASELINE = env.bool("ZOO_BENCH_BASELINE", default=False)

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
