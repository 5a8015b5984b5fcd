"""Where an algorithm's help lives for the user: the help link (``helpUrl``) into the user and methods
guide shipped in the plugin (docs/html/, built from docs/*.md by docs/build_docs.py), and the words the
toolbox search finds the algorithms by."""

import os

DOCS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")
HTML_DIR = os.path.join(DOCS_DIR, "html")

# every ecoresp algorithm is found by these in the toolbox search (besides its own TAGS)
COMMON_TAGS = ("ecoresp", "ecosystem respiration", "respiration", "ER", "carbon", "carbon cycle", "CO2",
               "eddy covariance", "flux", "FLUXNET")


def help_section(name):
    """(page, anchor) of algorithm ``name``'s section of the user guide (docs/user_guide.md: ``{#alg-<name>}``)."""
    return os.path.join(HTML_DIR, "user_guide.html"), "alg-" + name


def help_page(name):
    """The page that forwards to algorithm ``name``'s section of the user guide (docs/html/help/<name>.html).
    The help link is this page rather than ``user_guide.html#alg-<name>``: a file URL with a "#section"
    is not opened everywhere (GLib, behind xdg-open on GNOME, refuses a local file URI holding a "#")."""
    return os.path.join(HTML_DIR, "help", name + ".html")


def file_url(path):
    """file:// URL of a local ``path`` (file:///C:/... on Windows)."""
    path = os.path.abspath(path).replace(os.sep, "/")
    return "file://" + ("" if path.startswith("/") else "/") + path


def help_url(name):
    """file:// URL of the page of algorithm ``name`` in the shipped guide (empty when it is missing)."""
    page = help_page(name) if name else ""
    return file_url(page) if page and os.path.exists(page) else ""


def algorithm_tags(extra):
    """The search tags of an algorithm: the common ones and its own ``extra``."""
    return list(COMMON_TAGS) + [t for t in extra if t not in COMMON_TAGS]
