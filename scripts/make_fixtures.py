"""Makes the small test fixtures the project commits (tests/fixtures/).

cat-exif-orientation-6.jpg: a shared cat photo, downscaled, stored rotated
90° counter-clockwise with EXIF Orientation=6, so a correct reader shows it
upright (the shape phone photos come in).

hostile/: valid but unusual images for tests/http/hostile.test.mjs, each
small (a 96×64 cut of the same photo unless the name says otherwise):
cmyk.jpg, grey.jpg, grey-alpha.png, grey16.png, rgb16.png (16 bits per
channel), palette.png (with a tRNS transparent entry), animated.gif (3
frames), one-pixel.png, wide-16384x1.png, wide-90000x1.png (beyond the
16,384 px side limit), and orientation-{1..8}.jpg: the same 210×142 upright
picture (the cat in the top-left corner of a green canvas, so every flip and
turn moves it) stored transformed by the inverse of EXIF Orientation n and
tagged n, so a correct reader sees the cat in the same place in all eight.

fuzz/seeds/<target>/: the seed corpus of the cargo-fuzz targets (layouts in
fuzz/checks.rs): request lines and forms, tiny images of every accepted
format, and a cat photo with each pipeline option.

Run: python3 scripts/make_fixtures.py  (needs Pillow)
"""
import io
import struct
import zlib
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def png_rgb16(img: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow writes 16-bit only for grey)."""
    w, h = img.size
    rows = b"".join(
        b"\0" + b"".join(struct.pack(">HHH", *(c * 257 for c in img.getpixel((x, y)))) for x in range(w))
        for y in range(h)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def hostile(photo: Image.Image, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    small = photo.resize((96, 64), Image.BILINEAR)
    small.convert("CMYK").save(out / "cmyk.jpg", quality=80)
    small.convert("L").save(out / "grey.jpg", quality=80)
    grey_alpha = small.convert("LA")
    grey_alpha.putalpha(Image.linear_gradient("L").resize(small.size))
    grey_alpha.save(out / "grey-alpha.png")
    # Pillow's I;16 mode is written as a 16-bit grey PNG.
    small.convert("L").point(lambda v: v * 257, "I").convert("I;16").save(out / "grey16.png")
    (out / "rgb16.png").write_bytes(png_rgb16(small))
    palette = small.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 0
    palette.save(out / "palette.png", transparency=0)
    frames = [small.rotate(angle) for angle in (0, 120, 240)]
    frames[0].save(out / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    Image.new("RGB", (1, 1), (200, 120, 40)).save(out / "one-pixel.png")
    Image.new("RGB", (16384, 1), (90, 90, 90)).save(out / "wide-16384x1.png", optimize=True)
    Image.new("L", (90000, 1), 90).save(out / "wide-90000x1.png", optimize=True)
    canvas = Image.new("RGB", (1400, 950), (60, 110, 70))
    canvas.paste(photo, (0, 0))
    upright = canvas.resize((210, 142), Image.BILINEAR)
    t = Image.Transpose
    # What the camera stored so that applying Orientation n shows `upright`.
    stored = {1: None, 2: t.FLIP_LEFT_RIGHT, 3: t.ROTATE_180, 4: t.FLIP_TOP_BOTTOM,
              5: t.TRANSPOSE, 6: t.ROTATE_90, 7: t.TRANSVERSE, 8: t.ROTATE_270}
    for n, inverse in stored.items():
        exif = Image.Exif()
        exif[0x0112] = n  # Orientation
        img = upright if inverse is None else upright.transpose(inverse)
        img.save(out / f"orientation-{n}.jpg", quality=75, exif=exif.tobytes())


def encoded(img: Image.Image, fmt: str, **opts) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **opts)
    return buf.getvalue()


def fuzz_seeds(photo: Image.Image, out: Path) -> None:
    requests = [
        b"POST\0/api/detect\0image/jpeg\01234\0\0\0\0\0fcat=\xff\xd8\xff",
        b"POST\0/api/hipsterize/\0multipart/form-data; boundary=x\0999\0png\0image/png\0"
        b"https://a.test, http://127.0.0.1:9000/\0https://a.test\0tstyle= aviator \0fglasses=o\0fimage=p",
        b"post\0/api/hipsterize\0Image/PNG; q=1\0\0\0image/webp,image/png;q=0.9\0*\0\0ffile1=o\0ffile2=p",
        b"OPTIONS\0/api/detect\0\0\0\0\0https://a.test\0https://evil.test\0tcat=meow",
        b"DELETE\0/api/health\0text/plain\020000001\0gif\0*/*\0\0\0fa=1\0fb=2\0fc=3",
        b"GET\0/api/__panic\0multipart/form-data\0abc\0JPEG\0\0 * \0\0tglasses=x\0fcat=",
        b"HEAD\0/api/models/\0image/\00\0\0\0,,\0null",
    ]
    for i, data in enumerate(requests):
        (out / "request").mkdir(parents=True, exist_ok=True)
        (out / "request" / f"seed-{i}").write_bytes(data)

    tiny = photo.resize((12, 8), Image.BILINEAR)
    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [tiny, tiny.rotate(90)]
    images = {
        "one-pixel.png": encoded(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"),
        "tiny.jpg": encoded(tiny, "JPEG", quality=60),
        "tiny-progressive.jpg": encoded(tiny, "JPEG", quality=60, progressive=True),
        "tiny-exif6.jpg": encoded(tiny, "JPEG", quality=60, exif=exif.tobytes()),
        "tiny-cmyk.jpg": encoded(tiny.convert("CMYK"), "JPEG", quality=60),
        "tiny-grey.jpg": encoded(tiny.convert("L"), "JPEG", quality=60),
        "tiny-rgba.png": encoded(tiny.convert("RGBA"), "PNG"),
        "tiny-palette.png": encoded(tiny.convert("P", palette=Image.Palette.ADAPTIVE, colors=4), "PNG"),
        "tiny-rgb16.png": png_rgb16(tiny),
        "tiny.gif": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50),
        "tiny.webp": encoded(tiny, "WEBP", quality=50),
        "tiny-lossless.webp": encoded(tiny, "WEBP", lossless=True),
        "tiny.bmp": encoded(tiny, "BMP"),
    }
    cat = encoded(photo.resize((96, 64), Image.BILINEAR), "JPEG", quality=70)
    overlay = encoded(Image.new("RGBA", (16, 8), (0, 0, 0, 200)), "PNG")
    (out / "decode").mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        (out / "decode" / name).write_bytes(data)
    (out / "decode" / "cat.jpg").write_bytes(cat)
    # Flag byte, then (with bit 0) a u16 overlay length and the overlay.
    pipeline = {
        "detect-cat": b"\x00" + cat,
        "detect-tiny-png": b"\x00" + images["tiny-rgba.png"],
        "hipsterize-jpeg": b"\x10" + cat,
        "hipsterize-aviator-png": b"\x1a" + cat,
        "hipsterize-round": b"\x14" + cat,
        "hipsterize-unknown-style": b"\x16" + cat,
        "hipsterize-own-overlay": b"\x01" + struct.pack("<H", len(overlay)) + overlay + cat,
    }
    (out / "pipeline").mkdir(parents=True, exist_ok=True)
    for name, data in pipeline.items():
        (out / "pipeline" / name).write_bytes(data)


def main() -> None:
    out = ROOT / "tests" / "fixtures"
    out.mkdir(parents=True, exist_ok=True)
    photo = Image.open(SHARED / "data/cat-photos/kairess_001.jpg").convert("RGB")
    img = photo.resize((480, round(480 * photo.height / photo.width)), Image.BILINEAR)
    stored = img.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    stored.save(out / "cat-exif-orientation-6.jpg", quality=85, exif=exif.tobytes())
    hostile(photo, out / "hostile")
    fuzz_seeds(photo, ROOT / "fuzz" / "seeds")


if __name__ == "__main__":
    main()
