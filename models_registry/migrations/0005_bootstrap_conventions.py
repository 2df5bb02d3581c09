"""Catalog conventions the bootstrap and the loaders rely on, for installs made before.

- ByteTrack has no weights of its own: it tracks a detector's boxes. Its path was the
  tracker's configuration (``bytetrack.yaml``), which no loader can load as a model; it
  now points at the detector's weights (a YOLOv8n), and the tracker is a predict option.
- PaddleOCR runs as transformers' port of PaddleOCR's PP-OCRv5 mobile recogniser; its
  ``model_id`` names that checkpoint.

Only entries still at the catalog's original values change: an operator's edit stands.
The values are written out here, not read from the catalog, so this migration means the
same thing whatever the catalog says later.
"""

from __future__ import annotations

from django.db import migrations

CHANGES = [
    # (name, field, catalog value before, value now)
    ("bytetrack", "path", "bytetrack.yaml", "/models/bytetrack/yolov8n.pt"),
    ("paddleocr", "model_id", "", "PaddlePaddle/PP-OCRv5_mobile_rec_safetensors"),
]


def forward(apps, schema_editor):
    model_entry = apps.get_model("models_registry", "ModelEntry")
    for name, field, before, after in CHANGES:
        model_entry.objects.filter(name=name, **{field: before}).update(**{field: after})


def backward(apps, schema_editor):
    model_entry = apps.get_model("models_registry", "ModelEntry")
    for name, field, before, after in CHANGES:
        model_entry.objects.filter(name=name, **{field: after}).update(**{field: before})


class Migration(migrations.Migration):
    dependencies = [("models_registry", "0004_eviction_policy")]

    operations = [migrations.RunPython(forward, backward)]
