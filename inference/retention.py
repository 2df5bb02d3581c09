"""How long finished work is kept: batches (with their frames, detections, results and
work items) for ``ZOO_BATCH_RETENTION_DAYS`` after they finish, task inferences and
explicit loads for ``ZOO_INFERENCE_RETENTION_DAYS``. Unfinished work is never pruned.

Image bytes go earlier, as work finishes (``inference.work.batch_images_release``, and
an inference's image when it ends): what is kept this long is the results.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from inference.models import EnrichmentBatch, InferenceRequest, WorkItem, WorkKind, WorkStatus

logger = logging.getLogger(__name__)

FINISHED = (WorkStatus.DONE, WorkStatus.FAILED)
# Rows deleted per transaction: a long backlog is pruned in short steps, so no step
# holds locks (or a batch's cascade of frames and results) for long.
CHUNK = 500


def _delete_in_chunks(rows: QuerySet[Model]) -> int:
    """Delete ``rows`` (and what cascades from them) a chunk at a time; how many."""
    deleted = 0
    while True:
        with transaction.atomic():
            keys = list(rows.values_list("pk", flat=True)[:CHUNK])
            if not keys:
                return deleted
            rows.model._default_manager.filter(pk__in=keys).delete()
        deleted += len(keys)


def work_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete finished batches, inferences and explicit loads past their retention;
    how many of each."""
    now = now or timezone.now()
    batches_before = now - timedelta(days=settings.ZOO_BATCH_RETENTION_DAYS)
    inferences_before = now - timedelta(days=settings.ZOO_INFERENCE_RETENTION_DAYS)
    batches = EnrichmentBatch.objects.filter(status__in=FINISHED, finished_at__lt=batches_before)
    inferences = InferenceRequest.objects.filter(
        status__in=FINISHED, finished_at__lt=inferences_before
    )
    loads = WorkItem.objects.filter(
        kind=WorkKind.LOAD, status__in=FINISHED, finished_at__lt=inferences_before
    )
    deleted = {
        "batches": _delete_in_chunks(batches),  # type: ignore[arg-type]
        "inferences": _delete_in_chunks(inferences),  # type: ignore[arg-type]
        "loads": _delete_in_chunks(loads),  # type: ignore[arg-type]
    }
    if any(deleted.values()):
        logger.info("Pruned finished work past its retention: %s", deleted)
    return deleted
