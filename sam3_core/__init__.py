"""SAM3 serving core: request parsing, image decoding, inference engine, post-processing, responses.

One request flows: ``request.parse_payload`` (fields + ``image_io.decode_image``) -> ``engine.Sam3Engine.predict``
(one ViT pass, batched concept and visual prompts, low-resolution masks) -> ``response.build_response``
(``postprocess`` upsampling and ``encoding`` of PNGs and polygons) -> JSON-ready dict.
"""

from sam3_core.errors import RequestError

__all__ = ["RequestError"]
