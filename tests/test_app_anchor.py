"""The Explore tab's anchor source through the app's API: a sentence's anchor feeds /traverse; a picture's upload
comes back with its reconstruction and similarity; a file that is not a picture gets a sentence; the old
six-argument /traverse still works (the anchor input defaults to the seeds)."""
from __future__ import annotations

from gradio_client import handle_file

from .app_server import first_path


def test_sentence_anchor_then_traverse(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/anchor_from_text", "/anchor_from_image", "/anchor_source"} <= names
    image, anchor, note = client.predict("shapes-128", "a small blue square at the top", 0, api_name="/anchor_from_text")
    assert len(anchor) == 16 and image.endswith(".png") and "⚠️" not in note
    *_, mp4, note = client.predict("shapes-128", first_path(client), "0, 1", 1.0, 3, 0.5, anchor,
                                   api_name="/traverse")
    assert "from your anchor" in note and f"anchor-{anchor[:8]}" in mp4
    *_, note = client.predict("shapes-128", first_path(client), "0, 1", 1.0, 3, 0.5, api_name="/traverse")
    assert "seeds 0, 1" in note  # without an anchor: the seeds, as before


def test_picture_anchor_and_a_bad_upload(client, tmp_path):
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (200, 200), (40, 40, 40))
    ImageDraw.Draw(picture).ellipse([60, 60, 140, 140], fill=(230, 30, 30))
    picture.save(tmp_path / "circle.png")
    shown, recon, anchor, note = client.predict("shapes-128", handle_file(str(tmp_path / "circle.png")),
                                                api_name="/anchor_from_image")
    assert recon and shown and len(anchor) == 16 and "CLIP similarity" in note and "PSNR" in note
    (tmp_path / "letter.png").write_text("Dear app, this is not a picture.")
    shown, recon, anchor, note = client.predict("shapes-128", handle_file(str(tmp_path / "letter.png")),
                                                api_name="/anchor_from_image")
    assert note.startswith("⚠️") and "not an image" in note and anchor == ""
