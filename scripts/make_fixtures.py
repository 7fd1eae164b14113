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
cat.heic and cat.avif: the cat at 480 px wide as an iPhone-style HEIC and an
AVIF, which the API refuses with a 415 naming the format (and the page
converts where the browser can decode it); made only where pillow-heif
(PyPI) is installed.

fuzz/seeds/<target>/: the seed corpus of the cargo-fuzz targets (layouts in
fuzz/checks.rs): request lines and forms, tiny images of every accepted
format, and a cat photo with each pipeline option.

fuzz/seeds/memory/: the memory target's corpus (an output byte, then the
photo; each at most 2 MB): metadata bombs (a PNG iCCP, zTXt or iTXt that
inflates to hundreds of MB, many text chunks, a big eXIf), PNGs chunked
into tiny IDATs, interlaced and animated PNGs, large progressive
JPEGs, JPEGs heavy with EXIF, ICC and XMP segments, a GIF frame far larger
than its screen, GIFs with many frames or extension blocks, animated and
metadata-heavy WebPs, and the signatures of formats that are refused.

Run: python3 scripts/make_fixtures.py  (needs Pillow)
     python3 scripts/make_fixtures.py memory   (only fuzz/seeds/memory)
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


def heif_fixtures(photo: Image.Image, out: Path) -> None:
    try:
        import pillow_heif
    except ImportError:
        print("pillow-heif is not installed: cat.heic and cat.avif are left as they are")
        return
    pillow_heif.register_heif_opener()
    img = photo.resize((480, round(480 * photo.height / photo.width)), Image.BILINEAR)
    img.save(out / "cat.heic", format="HEIF", quality=60)
    img.save(out / "cat.avif", format="AVIF", quality=60)


def hostile(photo: Image.Image, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    heif_fixtures(photo, out)
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


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with(png: bytes, extra: bytes, idat_size: int = 0) -> bytes:
    """`png` with chunks `extra` inserted after IHDR; with idat_size, its
    image data re-split into IDAT chunks of that many bytes."""
    ihdr_end = 8 + 25
    chunks, i = [], ihdr_end
    while i < len(png):
        (n,) = struct.unpack(">I", png[i : i + 4])
        chunks.append((png[i + 4 : i + 8], png[i + 8 : i + 8 + n]))
        i += 12 + n
    data = b"".join(d for k, d in chunks if k == b"IDAT")
    rest = b"".join(png_chunk(k, d) for k, d in chunks if k not in (b"IDAT", b"IEND"))
    size = idat_size or len(data)
    idats = b"".join(png_chunk(b"IDAT", data[j : j + size]) for j in range(0, len(data), size))
    return png[:ihdr_end] + extra + rest + idats + png_chunk(b"IEND", b"")


def deflate_bomb(size: int) -> bytes:
    z = zlib.compressobj(9)
    block = bytes(1 << 20)
    out = b"".join(z.compress(block) for _ in range(size >> 20))
    return out + z.flush()


def jpeg_segment(marker: int, data: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data


def webp_claiming_exif(webp: bytes, size: int) -> bytes:
    """`webp` with its EXIF chunk's size (and the RIFF size) set to claim `size` bytes."""
    i = 12
    while i + 8 <= len(webp):
        kind, (n,) = webp[i : i + 4], struct.unpack("<I", webp[i + 4 : i + 8])
        if kind == b"EXIF":
            b = bytearray(webp)
            b[i + 4 : i + 8] = struct.pack("<I", size)
            b[4:8] = struct.pack("<I", i + size)
            return bytes(b)
        i += 8 + n + (n & 1)
    raise ValueError("no EXIF chunk")


def memory_seeds(photo: Image.Image, out: Path) -> None:
    """The memory target's corpus: an output byte (0 detect, 1 JPEG, 2 PNG),
    then the photo."""
    small = photo.resize((96, 64), Image.BILINEAR)
    mid = photo.resize((1200, 800), Image.BILINEAR)
    big = photo.resize((3000, 2000), Image.BILINEAR)
    png = encoded(small, "PNG")
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "x" * 60000  # ImageDescription: a large EXIF
    icc = bytes(range(256)) * 4000  # ~1 MB "profile": split over APP2 segments
    seeds = {
        # PNG metadata that inflates: a 400 MB and a 1 GB iCCP, a zTXt and an iTXt.
        "png-iccp-bomb-400mb": png_with(png, png_chunk(b"iCCP", b"icc\0\0" + deflate_bomb(400 << 20))),
        "png-iccp-bomb-1gb": png_with(png, png_chunk(b"iCCP", b"icc\0\0" + deflate_bomb(1 << 30))),
        "png-ztxt-bomb": png_with(png, png_chunk(b"zTXt", b"Comment\0\0" + deflate_bomb(300 << 20))),
        "png-itxt-bomb": png_with(png, png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\1\0\0\0" + deflate_bomb(300 << 20))),
        "png-many-text-chunks": png_with(png, b"".join(png_chunk(b"tEXt", b"k\0" + bytes(200)) for _ in range(8000))),
        "png-big-exif": png_with(png, png_chunk(b"eXIf", b"MM\0*" + bytes(1_500_000))),
        # Image data in 16-byte IDAT chunks; interlaced 16-bit; animated.
        "png-tiny-idat-chunks": png_with(encoded(mid, "PNG"), b"", idat_size=16),
        "png-interlaced-rgba": encoded(mid.convert("RGBA").resize((600, 400)), "PNG", interlace=1),
        "apng-3-frames": encoded(mid, "PNG", save_all=True, append_images=[mid.rotate(5), mid.rotate(10)]),
        # Progressive JPEGs, 6 MP, at full chroma and 4:2:0.
        "jpeg-progressive-444": encoded(big, "JPEG", quality=40, progressive=True, subsampling=0),
        "jpeg-progressive-420": encoded(big, "JPEG", quality=40, progressive=True, subsampling=2),
        # EXIF-, ICC- and XMP-heavy JPEGs.
        "jpeg-exif-heavy": encoded(mid, "JPEG", quality=50, exif=exif.tobytes()),
        "jpeg-icc-1mb": encoded(mid, "JPEG", quality=50, icc_profile=icc),
        "jpeg-many-app-segments": (lambda j: j[:2] + b"".join(jpeg_segment(0xE0 + (k % 16), bytes(60000)) for k in range(25)) + j[2:])(
            encoded(mid, "JPEG", quality=50)
        ),
        # A 1×1 GIF screen with a 4000×3000 frame (its pixel data missing),
        # and GIFs with many frames or many comment blocks.
        "gif-frame-beyond-screen": b"GIF89a" + struct.pack("<HH", 1, 1) + b"\0\0\0"
        + b"\x2c" + struct.pack("<HHHH", 0, 0, 4000, 3000) + b"\x80" + bytes(6) + b"\x02\x02\x4c\x01\0\x3b",
        "gif-40-frames": encoded(small, "GIF", save_all=True, append_images=[small.rotate(k) for k in range(1, 40)], duration=20),
        "gif-many-comments": (lambda g: g[:-1] + b"".join(b"\x21\xfe" + (b"\xff" + bytes(255)) * 4 + b"\0" for _ in range(1500)) + g[-1:])(
            encoded(small, "GIF")
        ),
        # Animated and metadata-heavy WebPs.
        "webp-animated": encoded(mid, "WEBP", save_all=True, append_images=[mid.rotate(5), mid.rotate(10)], quality=30),
        "webp-exif-icc": encoded(mid, "WEBP", quality=30, exif=exif.tobytes(), icc_profile=icc),
        "webp-lossless-alpha": encoded(mid.convert("RGBA"), "WEBP", lossless=True),
        # A small WebP whose EXIF chunk (and RIFF size) claim 1 GB.
        "webp-exif-claims-1gb": webp_claiming_exif(encoded(small, "WEBP", quality=30, exif=exif.tobytes()), 1 << 30),
        # Refused by signature (415): an iPhone HEIC's ftyp box, a TIFF.
        "heic-ftyp": struct.pack(">I", 24) + b"ftypheic\0\0\0\0mif1heic" + bytes(64),
        "tiff": encoded(small, "TIFF"),
    }
    (out / "memory").mkdir(parents=True, exist_ok=True)
    for i, (name, data) in enumerate(seeds.items()):
        assert len(data) <= 2_000_000, (name, len(data))
        (out / "memory" / name).write_bytes(bytes([i % 3]) + data)


def main() -> None:
    import sys

    if sys.argv[1:] == ["memory"]:
        photo = Image.open(SHARED / "data/cat-photos/kairess_001.jpg").convert("RGB")
        memory_seeds(photo, ROOT / "fuzz" / "seeds")
        return
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
    memory_seeds(photo, ROOT / "fuzz" / "seeds")


if __name__ == "__main__":
    main()
