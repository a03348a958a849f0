"""Roboflow's SAM3 routes (``/sam3/concept_segment``, ``/sam3/visual_segment``, ``/sam3/embed_image``) over the
main API, so that code written for Roboflow's inference server, ``inference-sdk``'s ``InferenceHTTPClient``
included, switches by changing its URL."""
