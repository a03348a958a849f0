"""Masks from model maps to what the API returns: upsampling, scanlines, PNG, polygons, RLE, COCO, YouTube-VIS."""
