"""SAM3 serving core, in subpackages by concern.

One request flows: ``service.SegmentationService`` -> ``api.request.parse_payload`` (fields and
``media.image_io.decode_image``) -> ``model.engine.Sam3Engine.predict`` (one ViT pass, batched concept and visual
prompts, low-resolution masks) -> ``api.response.build_response`` (``masks.postprocess`` upsampling,
``masks.encoding`` of PNGs and polygons) -> JSON-ready dict. ``settings`` is read once; ``errors`` are what a client
can cause; ``cancel`` stops work nobody waits for.
"""

from sam3_core.errors import RequestError

__all__ = ["RequestError"]
