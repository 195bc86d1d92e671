"""The Explore tab's anchor source through the app's API: a sentence's anchor feeds /traverse; a picture's upload
comes back with its reconstruction and similarity; a file that is not a picture gets a sentence; the old
six-argument /traverse still works (the anchor input defaults to the seeds)."""
from __future__ import annotations

from gradio_client import handle_file

from contraclip_core.generators import from_pretrained
from contraclip_core.methods.mappers.guess import shipped_mapper

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


def test_picture_anchor_by_the_mapper_and_a_bad_upload(client, tmp_path):
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (200, 200), (40, 40, 40))
    ImageDraw.Draw(picture).ellipse([60, 60, 140, 140], fill=(230, 30, 30))
    picture.save(tmp_path / "circle.png")
    shown, recon, anchor, note, code = client.predict("shapes-128", handle_file(str(tmp_path / "circle.png")),
                                                      "mapper", False, api_name="/anchor_from_image")
    assert recon and shown and len(anchor) == 16 and "CLIP similarity" in note and "PSNR" in note
    assert code.endswith(f"{anchor}.safetensors")  # the code to download
    (tmp_path / "letter.png").write_text("Dear app, this is not a picture.")
    for way in ("mapper", "projection"):
        shown, recon, anchor, note, code = client.predict("shapes-128", handle_file(str(tmp_path / "letter.png")), way,
                                                          False, api_name="/anchor_from_image")
        assert note.startswith("⚠️") and "not an image" in note and anchor == "" and code is None


def test_picture_projected_then_traversed_and_edited(client, tmp_path):
    """The default way, projection: the original beside a faithful reconstruction with its PSNR; the anchor then
    feeds /traverse and /edit (the old five-argument /edit still edits the seeds)."""
    import torch
    from PIL import Image

    from contraclip_core.generators import from_pretrained

    g = from_pretrained("shapes-128")
    with torch.no_grad():
        render = g.synthesis(g.encode(g.sample_z([3_000_555]), "w"), "w")[0]
    Image.fromarray(((render.permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()).save(
        tmp_path / "mine.png")
    shown, recon, anchor, note, code = client.predict("shapes-128", handle_file(str(tmp_path / "mine.png")),
                                                      api_name="/anchor_from_image")  # the defaults: projection
    assert "⚠️" not in note and len(anchor) == 16 and shown and recon and code.endswith(".safetensors")
    psnr_db = float(note.split("PSNR ")[1].split(" dB")[0])
    best = shipped_mapper(from_pretrained("shapes-128"), "shapes-128").name  # the best recorded inversion
    best = best.replace("-", "\\-")  # as the note's Markdown escapes it
    assert psnr_db >= 30 and "faithful" in note and f"Projected from the {best} mapper's guess" in note, note
    *_, note = client.predict("shapes-128", first_path(client), "0, 1", 1.0, 3, 0.5, anchor, api_name="/traverse")
    assert "from your anchor" in note
    *_, note = client.predict("shapes-128", "shipped:shapes-captions", "0, 1", "a green shape", 1.0, anchor,
                              api_name="/edit")
    assert "your anchor" in note and "⚠️" not in note
    *_, note = client.predict("shapes-128", "shipped:shapes-captions", "0, 1", "a green shape", 1.0, api_name="/edit")
    assert "seeds 0, 1" in note
