"""WSGI entry point (gunicorn zoo_project.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from zoo_project.data import prepare

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zoo_project.settings.base")
prepare()

application = get_wsgi_application()
