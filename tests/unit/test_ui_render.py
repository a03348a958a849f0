"""The web UI's drawing and downloads, without a browser: display-size layers, the full-size overlay, the masks
zip, the COCO file, the random-weights marker, the example photos (bundled with scikit-image, never downloaded)."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from sam3_core.loading import has_random_weights
from sam3_core.ui.downloads import coco_document, masks_zip, overlay_png, write_downloads
from sam3_core.ui.render import Picture, colour, decode_mask, display_size, full_overlay, objects_for_display

from helpers import b64, encode, scene

WIDTH, HEIGHT = 2000, 1500


def rectangle_mask(x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[y1:y2, x1:x2] = 255
    return mask


@pytest.fixture(scope="module")
def picture() -> Picture:
    image = scene(WIDTH, HEIGHT)
    return Picture(encode(image, "JPEG"), image, "my photo.jpg")


@pytest.fixture(scope="module")
def response() -> dict:
    """A response as the handler writes it: two objects, rectangles given in pixel xyxy."""
    boxes = [[100, 200, 700, 900], [1200, 300, 1900, 1400]]
    masks = [b64(encode(Image.fromarray(rectangle_mask(*box)))) for box in boxes]
    return {"masks": masks, "boxes": boxes, "scores": [0.9, 0.6], "labels": ["cat", "dog"], "num_objects": 2}


def test_display_size_fits_the_long_side():
    assert display_size((4000, 3000)) == (1280, 960)
    assert display_size((3000, 4000)) == (960, 1280)
    assert display_size((640, 480)) == (640, 480)  # never enlarged


def test_layers_are_at_display_size_and_cover_their_object(response):
    objects = objects_for_display(response, (WIDTH, HEIGHT))
    assert [(o["label"], o["score"], o["colour"]) for o in objects] == [
        ("cat", 0.9, "#{:02x}{:02x}{:02x}".format(*colour(0))),
        ("dog", 0.6, "#{:02x}{:02x}{:02x}".format(*colour(1))),
    ]
    assert objects[1]["box"] == [1200, 300, 1900, 1400]  # image pixels, not display
    width, height = display_size((WIDTH, HEIGHT))
    k = width / WIDTH
    for obj, (x1, y1, x2, y2) in zip(objects, response["boxes"], strict=True):
        png = Image.open(io.BytesIO(base64.b64decode(obj["layer"].split(",", 1)[1])))
        layer = np.asarray(png.convert("RGBA"))
        assert layer.shape == (height, width, 4)
        inside = layer[round((y1 + y2) / 2 * k), round((x1 + x2) / 2 * k)]
        assert tuple(inside[:3]) == colour(obj["index"]) and 0 < inside[3] < 255
        assert layer[round(y1 * k) - 5, round(x1 * k) - 5, 3] == 0  # outside: transparent
        assert layer[round((y1 + y2) / 2 * k), round(x1 * k), 3] == 255  # the outline: opaque


def test_full_overlay_tints_the_shown_objects_only(picture, response):
    original = np.asarray(picture.image)
    both = np.asarray(full_overlay(picture.image, response))
    assert both.shape == original.shape
    assert not np.array_equal(both[550, 400], original[550, 400])  # inside the cat
    assert not np.array_equal(both[850, 1550], original[850, 1550])  # inside the dog
    assert np.array_equal(both[1450, 1000], original[1450, 1000])  # no object there
    dog_only = np.asarray(full_overlay(picture.image, response, shown=[1]))
    assert np.array_equal(dog_only[550, 400], original[550, 400])
    assert np.array_equal(dog_only[850, 1550], both[850, 1550])
    assert np.array_equal(np.asarray(full_overlay(picture.image, response, shown=[])), original)


def test_overlay_png_is_the_pictures_size(picture, response):
    with Image.open(io.BytesIO(overlay_png(picture, response, [0]))) as png:
        assert png.format == "PNG" and png.size == (WIDTH, HEIGHT)


def test_masks_zip_holds_one_png_per_object(response):
    with zipfile.ZipFile(io.BytesIO(masks_zip(response))) as archive:
        names = archive.namelist()
        assert names == ["00_cat.png", "01_dog.png"]
        for name, png in zip(names, response["masks"], strict=True):
            with Image.open(io.BytesIO(archive.read(name))) as mask:
                assert mask.mode == "L" and mask.size == (WIDTH, HEIGHT)
                assert np.array_equal(np.asarray(mask) > 0, decode_mask(png) > 0)


def test_coco_document(response):
    coco = coco_document(response, "my photo.jpg", (WIDTH, HEIGHT))
    assert coco["images"] == [{"id": 1, "file_name": "my photo.jpg", "width": WIDTH, "height": HEIGHT}]
    assert [c["name"] for c in coco["categories"]] == ["cat", "dog"]
    assert [a["id"] for a in coco["annotations"]] == [1, 2]
    objects = zip(coco["annotations"], response["boxes"], response["masks"], strict=True)
    for annotation, (x1, y1, x2, y2), png in objects:
        assert annotation["bbox"] == [x1, y1, x2 - x1, y2 - y1] and annotation["image_id"] == 1
        rle = {"size": annotation["segmentation"]["size"], "counts": annotation["segmentation"]["counts"].encode()}
        assert np.array_equal(mask_utils.decode(rle) > 0, decode_mask(png) > 0)
        assert annotation["area"] == (x2 - x1) * (y2 - y1)
    json.dumps(coco)  # serialisable as is


def test_write_downloads_names_the_files_after_the_upload(tmp_path, picture, response):
    paths = write_downloads(tmp_path / "out", picture, response, [0, 1])
    assert [p.name for p in paths] == ["my_photo_overlay.png", "my_photo_masks.zip", "my_photo_coco.json"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_random_weights_marker(tmp_path, tiny_checkpoint):
    assert has_random_weights(tiny_checkpoint)  # sam3-make-tiny marks its checkpoints
    assert not has_random_weights(tmp_path)  # a directory without the marker (a real checkpoint)
    (tmp_path / "TINY_RANDOM_CHECKPOINT.json").write_text("not json")
    assert has_random_weights(tmp_path)  # a damaged marker still says random


def test_example_photos_are_bundled_not_downloaded():
    """Each example loads with pooch (scikit-image's downloader) made unimportable: nothing can be fetched."""
    code = (
        "import sys, io\n"
        "sys.modules['pooch'] = None\n"
        "from PIL import Image\n"
        "from sam3_core.ui import examples as ui_examples\n"
        "names = ui_examples.available()\n"
        "assert names, 'scikit-image is not installed: pip install -e .[ui]'\n"
        "for name in names:\n"
        "    image = Image.open(io.BytesIO(ui_examples.example_png(name)))\n"
        "    print(name, image.size[0], image.size[1], image.mode)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines()]
    assert [row[0] for row in rows] == ["astronaut", "chelsea", "coffee", "rocket", "motorcycle"]
    assert all(int(row[1]) >= 300 and int(row[2]) >= 300 and row[3] == "RGB" for row in rows)


def test_the_banner_follows_the_model_info():
    from sam3_core.ui.page import weights_notice

    assert "randomly initialised" in weights_notice({"loaded": True, "random_weights": True})
    assert weights_notice({"loaded": True, "random_weights": False}) == ""
    assert "loading" in weights_notice({"loaded": False, "random_weights": False})
