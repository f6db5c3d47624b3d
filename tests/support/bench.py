"""What the benchmark tests share: the scale of a tiny suite run and how a PNG file starts."""

TINY_SCALE = 0.02
PNG_MAGIC = b"\x89PNG"
