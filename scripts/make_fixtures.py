"""Makes the small test fixtures the project commits (tests/fixtures/).

cat-exif-orientation-6.jpg: a shared cat photo, downscaled, stored rotated
90° counter-clockwise with EXIF Orientation=6, so a correct reader shows it
upright (the shape phone photos come in).

Run: python3 scripts/make_fixtures.py  (needs Pillow)
"""
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def main() -> None:
    out = ROOT / "tests" / "fixtures"
    out.mkdir(parents=True, exist_ok=True)
    img = Image.open(SHARED / "data/cat-photos/kairess_001.jpg").convert("RGB")
    img = img.resize((480, round(480 * img.height / img.width)), Image.BILINEAR)
    stored = img.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    stored.save(out / "cat-exif-orientation-6.jpg", quality=85, exif=exif.tobytes())


if __name__ == "__main__":
    main()
