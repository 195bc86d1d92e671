"""The generator catalogue: every named generator, grouped by domain, and the dipole corpora of those domains.

Plain data; ``registry`` re-exports it. The Hub files are public (``aaronb/StyleGAN2``: rosinality-layout ``.pt``
files, read with ``torch.load(weights_only=True)``; ``huggan/pggan-celebahq-1024``: a genforce state dict) but could
not be downloaded from the machines this project is built on, so none of them has been run here: each loads with
the architecture and config read from its tensors (``generators.inference``), and each name can be replaced by any
``hf://org/repo/path`` or local path. Sizes are the Hub's listed file sizes (download on first use).

Per-generator defaults: W+ paths on the first ℓ + 1 style inputs with ℓ = num_ws − 7 (11 at 1024 px as in the
ContraCLIP paper, 9 at 512, 7 at 256: coarse and middle layers), truncation ψ 0.7, ε in [0.1, 0.2].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GeneratorPreset:
    source: str  # hf://org/repo/file or a path relative to the project root
    arch: str  # "stylegan2" | "pggan" | "shapes"
    layout: str  # "ours" | "rosinality" | "nvidia" | "genforce": how the source file is laid out
    config: dict[str, Any]  # the architecture's config; {} = read it from the checkpoint (explicit values win)
    description: str  # one line for the UI: model, data set, resolution
    needs_hub: bool = True  # False when the weights ship with the project
    default_space: str = "w+"  # the latent space ContraCLIP's paper uses for this generator
    default_layers: int = 11  # ℓ: W+ paths act on the first ℓ+1 style inputs
    default_truncation: float = 0.7  # ψ
    corpus: str = "attributes"  # the pre-defined corpus that fits this generator
    clip: str = "ViT-B-32/openai"  # the CLIP model paths are trained and evaluated with
    template: str = "a photo of {}."  # sentence template applied to corpus phrases
    eps_range: tuple[float, float] = (0.1, 0.2)  # training step magnitudes ε, in latent units (paper settings)
    step_size: float = 0.2  # η of the Euler traversal, in latent units
    paths: str = ""  # pre-trained path sets on the Hub: "hf://org/repo[@rev]/folder"; "" = <PATHS_REPO>/<name>
    domain: str = "faces"  # what it draws; the app's picker groups by it
    resolution: int = 0  # output size in pixels (square)
    download_mb: float = 0.0  # size of the source file, downloaded on first use (0: ships with the project)


# Domains in the order the picker shows them.
DOMAINS = ("yours", "shapes", "faces", "art faces", "cats", "dogs", "wild animals", "lions", "horses", "elephants", "giraffes",
           "parrots", "cars", "bicycles", "churches", "histology")
SG2_MB = {256: 121.0, 512: 124.0, 1024: 133.0}  # config-f .pt sizes on the Hub
SG2_LAYERS = {256: 7, 512: 9, 1024: 11}  # ℓ = num_ws − 7


def _sg2(path: str, description: str, domain: str, resolution: int, corpus: str, **extra: Any) -> GeneratorPreset:
    """A config-f StyleGAN2 from aaronb/StyleGAN2 (rosinality layout; config read from the file)."""
    return GeneratorPreset(source=f"hf://aaronb/StyleGAN2/{path}", arch="stylegan2", layout="rosinality", config={},
                           description=description, domain=domain, resolution=resolution, corpus=corpus,
                           default_layers=SG2_LAYERS[resolution], download_mb=SG2_MB[resolution], **extra)


GENERATORS: dict[str, GeneratorPreset] = {
    "shapes-128": GeneratorPreset(
        source="checkpoints/shapes/generator", arch="shapes", layout="ours", config={},
        description="Shapes world, 128×128 — built in, works offline, exact ground truth",
        needs_hub=False, default_space="w", default_layers=0, default_truncation=1.0, corpus="shapes",
        clip="shapes-clip", template="{}", eps_range=(0.5, 1.0), step_size=0.25, domain="shapes", resolution=128,
    ),
    # --- StyleGAN2 config-f (Karras et al. 2020), converted by rosinality -------------------------------------------
    "stylegan2-ffhq-1024": _sg2("stylegan2-ffhq-config-f.pt", "StyleGAN2 config-f, FFHQ faces, 1024×1024", "faces",
                                1024, "attributes"),
    "stylegan2-car-512": _sg2("stylegan2-car-config-f.pt",
                              "StyleGAN2 config-f, LSUN cars, 512×384 content in a 512×512 frame", "cars", 512,
                              "cars"),
    "stylegan2-cat-256": _sg2("stylegan2-cat-config-f.pt", "StyleGAN2 config-f, LSUN cats, 256×256", "cats", 256,
                              "cats"),
    "stylegan2-church-256": _sg2("stylegan2-church-config-f.pt", "StyleGAN2 config-f, LSUN churches, 256×256",
                                 "churches", 256, "churches"),
    "stylegan2-horse-256": _sg2("stylegan2-horse-config-f.pt", "StyleGAN2 config-f, LSUN horses, 256×256", "horses",
                                256, "horses"),
    # --- StyleGAN2-ADA (Karras et al. 2020b), NVIDIA's pickles converted to rosinality's layout ---------------------
    "stylegan2-ada-ffhq-1024": _sg2("ada/ffhq.pt", "StyleGAN2-ADA, FFHQ faces, 1024×1024", "faces", 1024,
                                    "attributes"),
    "stylegan2-metfaces-1024": _sg2("ada/metfaces.pt", "StyleGAN2-ADA, MetFaces (faces in art), 1024×1024",
                                    "art faces", 1024, "art faces", template="a painting of {}."),
    "stylegan2-afhqcat-512": _sg2("ada/afhqcat.pt", "StyleGAN2-ADA, AFHQ cats, 512×512", "cats", 512, "cats"),
    "stylegan2-afhqdog-512": _sg2("ada/afhqdog.pt", "StyleGAN2-ADA, AFHQ dogs, 512×512", "dogs", 512, "dogs"),
    "stylegan2-afhqwild-512": _sg2("ada/afhqwild.pt", "StyleGAN2-ADA, AFHQ wild animals, 512×512", "wild animals",
                                   512, "wild animals"),
    "stylegan2-brecahad-512": _sg2("ada/brecahad.pt", "StyleGAN2-ADA, BreCaHAD breast-cancer histology, 512×512",
                                   "histology", 512, "histology", template="a microscope image of {}."),
    # --- Self-Distilled StyleGAN (Mokady et al. 2022): internet photos of one object class ---------------------------
    "stylegan2-sd-bicycles-256": _sg2("self_distill/bicycles_256.pt", "Self-Distilled StyleGAN, bicycles, 256×256",
                                      "bicycles", 256, "bicycles"),
    "stylegan2-sd-horses-256": _sg2("self_distill/horses_256.pt", "Self-Distilled StyleGAN, horses, 256×256",
                                    "horses", 256, "horses"),
    "stylegan2-sd-elephants-512": _sg2("self_distill/elephants_512.pt", "Self-Distilled StyleGAN, elephants, 512×512",
                                       "elephants", 512, "elephants"),
    "stylegan2-sd-giraffes-512": _sg2("self_distill/giraffes_512.pt", "Self-Distilled StyleGAN, giraffes, 512×512",
                                      "giraffes", 512, "giraffes"),
    "stylegan2-sd-lions-512": _sg2("self_distill/lions_512.pt", "Self-Distilled StyleGAN, lions, 512×512", "lions",
                                   512, "lions"),
    "stylegan2-sd-parrots-512": _sg2("self_distill/parrots_512.pt", "Self-Distilled StyleGAN, parrots, 512×512",
                                     "parrots", 512, "parrots"),
    "stylegan2-sd-dogs-1024": _sg2("self_distill/dogs_1024.pt", "Self-Distilled StyleGAN, dogs, 1024×1024", "dogs",
                                   1024, "dogs"),
    # --- Progressive GAN (Karras et al. 2018), genforce layout ------------------------------------------------------
    "pggan-celebahq-1024": GeneratorPreset(
        source="hf://huggan/pggan-celebahq-1024/pytorch_model.bin", arch="pggan", layout="genforce", config={},
        description="ProgGAN, CelebA-HQ faces, 1024×1024", default_space="z", default_layers=0,
        default_truncation=1.0, domain="faces", resolution=1024, download_mb=92.3,
    ),
}
DEFAULT_GENERATOR = "shapes-128"
ALIASES = {"shapes": "shapes-128"}  # short names a user may type


def add_generator(name: str, preset: GeneratorPreset) -> None:
    """Add a user's generator to the catalogue for this process (``python app.py --generator SOURCE``); a name
    already taken by another generator is refused."""
    if name in GENERATORS and GENERATORS[name] != preset:
        raise ValueError(f"a generator named {name!r} is already in the catalogue")
    GENERATORS[name] = preset


def canonical_names() -> list[str]:
    """Catalogue names (no aliases) in picker order: by domain, then by name."""
    return sorted((n for n in GENERATORS if n not in ALIASES), key=lambda n: (DOMAINS.index(GENERATORS[n].domain), n))


def generator_label(name: str) -> str:
    """The picker's line for a generator: domain · description · what it costs to get."""
    preset = GENERATORS[name]
    size = f"{preset.download_mb:.0f} MB download on first use" if preset.needs_hub else "built in"
    return f"{preset.domain.capitalize()} · {preset.description} · {size}"


def step_size_for(name: str) -> float:
    """η of the Euler traversal for a generator: its preset's, else the presets' default (a generator the catalogue
    does not list, e.g. a file given by path)."""
    preset = GENERATORS.get(name)
    return preset.step_size if preset else GeneratorPreset.step_size


# Dipole corpora for the catalogue's domains that had none (phrases; the preset's template makes sentences).
# Positive steps go toward the first phrase. Attributes a generator of that domain can plausibly show.
DOMAIN_CORPORA: dict[str, list[tuple[str, str]]] = {
    "art faces": [
        ("a smiling woman", "a serious woman"),
        ("an old man", "a young man"),
        ("a face in bright colours", "a face in dark colours"),
        ("a face with a hat", "a face without a hat"),
        ("a face seen from the side", "a face seen from the front"),
    ],
    "wild animals": [
        ("a lion", "a tiger"),
        ("a wolf", "a fox"),
        ("an animal with its mouth open", "an animal with its mouth closed"),
        ("an animal with spotted fur", "an animal with plain fur"),
        ("a young animal", "an old animal"),
    ],
    "horses": [
        ("a white horse", "a black horse"),
        ("a running horse", "a standing horse"),
        ("a horse with a rider", "a horse without a rider"),
        ("a horse in a field", "a horse in a stable"),
    ],
    "churches": [
        ("a church with a tall tower", "a church without a tower"),
        ("a stone church", "a wooden church"),
        ("a church under a blue sky", "a church under a cloudy sky"),
        ("a modern church", "an old church"),
    ],
    "bicycles": [
        ("a racing bicycle", "a city bicycle"),
        ("a red bicycle", "a black bicycle"),
        ("a bicycle with a basket", "a bicycle without a basket"),
        ("a mountain bike", "a road bike"),
    ],
    "elephants": [
        ("an elephant with big tusks", "an elephant without tusks"),
        ("a baby elephant", "an adult elephant"),
        ("an elephant in water", "an elephant on dry grass"),
        ("an elephant with raised trunk", "an elephant with lowered trunk"),
    ],
    "giraffes": [
        ("a giraffe eating leaves", "a giraffe standing still"),
        ("a young giraffe", "an adult giraffe"),
        ("a giraffe with dark spots", "a giraffe with light spots"),
        ("a giraffe seen from the side", "a giraffe seen from the front"),
    ],
    "lions": [
        ("a lion with a large mane", "a lioness"),
        ("a roaring lion", "a calm lion"),
        ("a lion cub", "an adult lion"),
        ("a lion lying down", "a lion standing"),
    ],
    "parrots": [
        ("a red parrot", "a green parrot"),
        ("a parrot with spread wings", "a parrot with folded wings"),
        ("a parrot on a branch", "a parrot in flight"),
        ("a blue and yellow macaw", "a white cockatoo"),
    ],
    "histology": [
        ("densely packed cells", "sparse cells"),
        ("tissue stained dark purple", "tissue stained light pink"),
        ("large nuclei", "small nuclei"),
        ("many dividing cells", "few dividing cells"),
    ],
}


# --- image → W+ encoders (pSp / e4e checkpoints as their authors save them; contraclip_core.encoders) -----------------
@dataclass(frozen=True)
class EncoderPreset:
    source: str  # hf://org/repo/file or a path relative to the project root
    generator: str  # the catalogue generator its W+ codes are for (its checkpoint's decoder is that generator)
    description: str  # one line for the UI


# Listed only once a Hub location has been downloaded and checked; none could be from the machines this project is
# built on. Any local or hf:// checkpoint loads with encoders.load_encoder(source).
ENCODERS: dict[str, EncoderPreset] = {}
