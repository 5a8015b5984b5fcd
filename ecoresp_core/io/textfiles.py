"""Text outputs (HTML, CSV, JSON) written under a temporary name and renamed at the end."""

from .atomic import atomic_path


def write_text_atomic(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` through a temporary file in the same folder (io.atomic)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding=encoding) as fh:
        fh.write(text)
    return path
