"""WSGI entry point (gunicorn zoo_project.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zoo_project.settings.base")

application = get_wsgi_application()
