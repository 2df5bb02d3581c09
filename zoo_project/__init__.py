"""Model Zoo: Django project package (settings, URLs, Celery app)."""

from __future__ import annotations

from zoo_project.celery import app as celery_app

__all__ = ("celery_app",)
