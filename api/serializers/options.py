"""The ``options`` a task inference passes to its model's ``predict``: only the names
the loaders read, each of its type and range (inference/engine/loaders), so a mistake
is a 400 naming the option instead of a failed inference on the worker."""

from __future__ import annotations

from rest_framework import serializers

from core.serializers import StrictSerializer

TRACKERS = ("bytetrack", "botsort")


def _fraction(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(required=False, min_value=0.0, max_value=1.0, help_text=help_text)


def _count(most: int, help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, min_value=1, max_value=most, help_text=help_text
    )


def _box() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(), min_length=4, max_length=4, required=False
    )


class PredictOptionsSerializer(StrictSerializer):
    conf = _fraction("Detection confidence threshold (YOLO)")
    iou = _fraction("Non-maximum suppression IoU threshold (YOLO)")
    threshold = _fraction("Score threshold (Grounding DINO)")
    max_det = _count(1000, "At most this many detections")
    top_k = _count(1000, "Classifiers: this many best labels")
    max_new_tokens = _count(1024, "Vision-language models: tokens to generate")
    labels = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        max_length=256,
        help_text="Open-vocabulary or zero-shot labels",
    )
    template = serializers.CharField(
        required=False, max_length=200, help_text='Zero-shot prompt with one "{}"'
    )
    prompt = serializers.CharField(required=False, max_length=4000)
    task = serializers.CharField(required=False, max_length=64, help_text="Florence-2 task")
    tracker = serializers.ChoiceField(choices=TRACKERS, required=False)
    reset = serializers.BooleanField(required=False, help_text="Tracking: a new stream")
    box = _box()
    boxes = serializers.ListField(child=_box(), required=False, max_length=100)
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        required=False,
        max_length=100,
    )

    def validate_template(self, value: str) -> str:
        rest = value.replace("{}", "")
        if value.count("{}") != 1 or "{" in rest or "}" in rest:
            raise serializers.ValidationError('must hold exactly one "{}" and no other braces')
        return value
