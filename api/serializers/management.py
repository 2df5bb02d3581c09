"""Request and response shapes of the Model Management API, field for field as its
document gives them (and the task inference this service adds)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from api.serializers.images import decoded_image, image_size
from api.serializers.options import PredictOptionsSerializer
from core.serializers import StrictSerializer


class TaskOptionSerializer(serializers.Serializer):
    """Every field of the document's "Model Option Fields" table, on every option: the
    memory in both units, whichever one the catalog publishes it in."""

    model_id = serializers.CharField(help_text="Hugging Face model ID or local name")
    framework = serializers.CharField(
        help_text=(
            "Inference framework: sglang, vllm, transformers, ultralytics, pytorch, or the "
            "provider of an external API (anthropic, openai, google)"
        )
    )
    vram_mb = serializers.IntegerField(help_text="Memory requirement in MB")
    vram_gb = serializers.FloatField(help_text="The same requirement in GB (MB / 1024)")
    speed = serializers.CharField(help_text="fast, medium or slow")
    description = serializers.CharField(allow_blank=True)
    fps = serializers.FloatField(
        allow_null=True,
        help_text="Frames per second of a VLM run here or on its own server; null otherwise",
    )


class TaskConfigSerializer(serializers.Serializer):
    selected = serializers.CharField(allow_null=True)
    options = serializers.DictField(child=TaskOptionSerializer())


class InferenceConfigSerializer(serializers.Serializer):
    max_memory_per_model = serializers.FloatField(help_text="GB")
    offload_threshold = serializers.FloatField()
    warmup_on_startup = serializers.BooleanField()
    default_batch_size = serializers.IntegerField()
    max_batch_size = serializers.IntegerField()


class ManagementConfigSerializer(serializers.Serializer):
    models = serializers.DictField(child=TaskConfigSerializer(), help_text="By task type")
    inference = InferenceConfigSerializer()
    cuda_available = serializers.BooleanField()
    total_vram_gb = serializers.FloatField(
        help_text="Total memory of the device (on the CPU: the machine's memory)"
    )


class LoadedModelSerializer(serializers.Serializer):
    model_id = serializers.CharField()
    memory_usage_gb = serializers.FloatField(
        help_text="Memory counted for the model: the larger of its estimate and measured size"
    )
    load_time = serializers.FloatField(help_text="How long the load took, in seconds")
    device = serializers.CharField(
        help_text=(
            'Where the model runs: its device (cuda:0, ...), or "cpu" when CPU fallback '
            "placed it there because it did not fit the GPU (its memory_usage_gb is then 0: "
            "it holds no VRAM). Beyond the document, additive"
        )
    )


class ManagementStatusSerializer(serializers.Serializer):
    loaded_models = serializers.DictField(child=LoadedModelSerializer(), help_text="By task")
    total_vram_allocated_gb = serializers.FloatField()
    total_vram_available_gb = serializers.FloatField(help_text="Total capacity of the device")
    cuda_available = serializers.BooleanField()
    device = serializers.CharField(help_text="PyTorch device string (cpu, cuda:0, ...)")
    timestamp = serializers.DateTimeField(
        read_only=True, help_text="UTC time of this answer (ISO 8601), like the zoo API's"
    )


class SelectResultSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success"')
    task_type = serializers.CharField()
    selected_model = serializers.CharField()
    model_id = serializers.CharField()
    message = serializers.CharField()


class RequirementSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    model_id = serializers.CharField(help_text="The option's model_id")
    vram_gb = serializers.FloatField()


class BudgetValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    total_vram_gb = serializers.FloatField()
    total_required_gb = serializers.FloatField()
    threshold = serializers.FloatField()
    max_allowed_gb = serializers.FloatField(help_text="total_vram_gb × threshold")
    model_requirements = serializers.DictField(child=RequirementSerializer())
    warnings = serializers.ListField(child=serializers.CharField())


class InferInSerializer(StrictSerializer):
    """One image, or for ``video_summarization`` several frames in order (the
    ``task_type`` in the context), and an optional prompt.

    Validated, it holds ``frames`` (the image bytes, one or more, in order) and
    ``options`` (the prompt, when given, as ``options.prompt``)."""

    image = serializers.CharField(
        required=False, help_text="The image, base64-encoded (or a multipart part)"
    )
    frames = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        min_length=1,
        help_text=(
            "video_summarization only: the clip's frames in order, each base64-encoded (or "
            "repeated multipart parts `frames`); at most ZOO_MAX_SUMMARY_FRAMES (16), each "
            "within ZOO_MAX_IMAGE_BYTES and ZOO_MAX_IMAGE_PIXELS, all together within "
            "ZOO_MAX_REQUEST_BYTES and ZOO_MAX_REQUEST_PIXELS. Instead of `image`."
        ),
    )
    prompt = serializers.CharField(
        required=False,
        help_text=(
            "What to ask of the frames (a vision-language model); at most "
            "ZOO_MAX_PROMPT_CHARS (4000) characters. Wins over options.prompt."
        ),
    )
    options = PredictOptionsSerializer(
        required=False, default=dict, help_text="Passed to the model's predict"
    )

    def validate_prompt(self, value: str) -> str:
        if len(value) > settings.ZOO_MAX_PROMPT_CHARS:
            raise serializers.ValidationError(
                f"is {len(value)} characters, more than the {settings.ZOO_MAX_PROMPT_CHARS} "
                "allowed (ZOO_MAX_PROMPT_CHARS)"
            )
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("image" in attrs) == ("frames" in attrs):
            raise serializers.ValidationError({"image": ["give either image or frames"]})
        if "frames" in attrs and self.context.get("task_type") != "video_summarization":
            raise serializers.ValidationError(
                {"frames": ["only video_summarization takes several frames; send image"]}
            )
        options = dict(attrs.get("options") or {})
        if attrs.get("prompt"):
            options["prompt"] = attrs["prompt"]
        if "image" in attrs:
            return {"frames": [_image_bytes("image", attrs["image"])], "options": options}
        return {"frames": _frames_bytes(attrs["frames"]), "options": options}


def _image_bytes(field: str, value: str) -> bytes:
    """One base64 image within the limits, else a ValidationError on ``field``."""
    try:
        data = decoded_image(value)
        image_size(data)
    except ValueError as exc:
        raise serializers.ValidationError({field: [str(exc)]}) from None
    return data


def _frames_bytes(values: list[str]) -> list[bytes]:
    """Several frames within the per-frame and the per-request limits."""
    most = settings.ZOO_MAX_SUMMARY_FRAMES
    if len(values) > most:
        raise serializers.ValidationError(
            {"frames": [f"{len(values)} frames, more than the {most} allowed"]}
        )
    frames, total_bytes, total_pixels = [], 0, 0
    for index, value in enumerate(values):
        data = _image_bytes(f"frames[{index}]", value)
        width, height = image_size(data)
        total_bytes += len(data)
        total_pixels += width * height
        frames.append(data)
    if total_bytes > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise serializers.ValidationError(
            {"frames": [f"{total_bytes} bytes together, more than the "
                        f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} allowed (ZOO_MAX_REQUEST_BYTES)"]}
        )  # fmt: skip
    if total_pixels > settings.ZOO_MAX_REQUEST_PIXELS:
        raise serializers.ValidationError(
            {"frames": [f"{total_pixels} pixels together, more than the "
                        f"{settings.ZOO_MAX_REQUEST_PIXELS} allowed (ZOO_MAX_REQUEST_PIXELS)"]}
        )  # fmt: skip
    return frames


class InferResultSerializer(serializers.Serializer):
    request_id = serializers.UUIDField()
    task_type = serializers.CharField()
    model_name = serializers.CharField()
    model_id = serializers.CharField()
    device = serializers.CharField(allow_null=True)
    cold = serializers.BooleanField(allow_null=True, help_text="Whether this call paid a load")
    load_time = serializers.FloatField(allow_null=True, help_text="Seconds to acquire the model")
    inference_time = serializers.FloatField(allow_null=True, help_text="Seconds of predict")
    result = serializers.JSONField(help_text="The model's output")
