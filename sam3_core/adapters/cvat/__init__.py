"""CVAT: ``sam3_cvat.py``, an auto-annotation function file a CVAT user runs with ``cvat-cli``; it calls a SAM3
endpoint over HTTP and imports nothing of this package."""
