"""The life of a worker process (``lifecycle``): claim the device, heartbeat, sweep,
serve, let go. ``zoo_worker`` starts it; the Celery app's signals drive it."""
