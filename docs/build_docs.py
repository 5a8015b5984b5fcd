"""Build the guide that ships in the plugin: docs/user_guide.md and docs/methods.md -> docs/html/*.html.

The HTML is committed, so that the plugin zip carries a guide a browser opens without a build step
(the algorithms' help links point into it, algorithms/helpdocs.py); a test checks that the committed
files equal this script's output. Run it after editing the markdown:

    .venv/bin/python docs/build_docs.py          # writes docs/html/
    .venv/bin/python docs/build_docs.py --check  # exit 1 when docs/html/ is out of date

Needs Python-Markdown (Debian: python3-markdown). Section headings "## 17. ..." of the methods guide get
the anchor ``s17`` ("### 4.3 ..." gets ``s4.3``); the user guide sets its anchors with ``{#id}``.

Each algorithm section of the user guide (``{#alg-<name>}``) also gets a page docs/html/help/<name>.html
that forwards to it: the algorithms' help links point there, because a file:// URL with a #section is
not opened everywhere (GLib, behind xdg-open on GNOME, refuses a local file URI that holds a "#"; the
Windows shell may drop it), while a plain file URL always opens, and the page moves on to the section.
"""

import argparse
import html
import os
import re
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
HTML_DIR = os.path.join(DOCS, "html")
# (markdown source, html page, title)
PAGES = (("user_guide.md", "user_guide.html", "ecoresp user guide"),
         ("methods.md", "methods.html", "ecoresp methods guide"))
MD_TO_HTML = {md: page for md, page, _ in PAGES}

STYLE = """body { font-family: sans-serif; max-width: 60em; margin: 1em auto; padding: 0 1em; line-height: 1.45;
  color: #222; }
nav.top { border-bottom: 1px solid #ccc; padding-bottom: .4em; margin-bottom: 1em; }
nav.top a { margin-right: 1.2em; }
code { background: #f3f3f3; padding: 0 .2em; }
pre { background: #f3f3f3; padding: .5em; overflow-x: auto; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: .6em 0; display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #bbb; padding: .2em .5em; vertical-align: top; text-align: left; }
th { background: #eee; }
h2 { border-bottom: 1px solid #ddd; margin-top: 1.6em; }
div.toc { background: #f8f8f8; border: 1px solid #ddd; padding: .3em 1em; font-size: 90%; }
"""


def _slugify(value, separator):
    """Anchor of a heading: ``s<number>`` for a numbered section, else a plain lower-case slug."""
    m = re.match(r"\s*(\d+(?:\.\d+)*)\.?\s", value)
    if m:
        return "s" + m.group(1)
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[\s_-]+", separator, value)


def _links(text):
    """Links between the guide's pages: ``methods.md#s17`` -> ``methods.html#s17`` (in the HTML only)."""
    for md, page in MD_TO_HTML.items():
        text = re.sub(r'href="' + re.escape(md) + r'(#[^"]*)?"', lambda m, p=page: f'href="{p}{m.group(1) or ""}"',
                      text)
    return text


def render(md_name):
    """The HTML page of ``docs/<md_name>`` (a str)."""
    import markdown

    page, title = next((p, t) for m, p, t in PAGES if m == md_name)
    with open(os.path.join(DOCS, md_name), encoding="utf-8") as fh:
        source = fh.read()
    converter = markdown.Markdown(
        extensions=["tables", "fenced_code", "attr_list", "sane_lists", "toc"],
        extension_configs={"toc": {"slugify": _slugify, "toc_depth": "2-3"}},
        tab_length=4)
    body = _links(converter.convert(_nest_lists(_literal_ustar(source))))
    # Python-Markdown < 3.5 leaves the placeholder of an escaped character (u\\*) in the contents
    toc = re.sub("\x02(\\d+)\x03", lambda m: html.escape(chr(int(m.group(1)))), converter.toc)
    contents = f'<div class="toc"><b>Contents</b>\n{toc}</div>\n'
    body = body.replace("</h1>\n", "</h1>\n" + contents, 1) if "</h1>\n" in body else contents + body
    nav = " ".join(f'<a href="{p}">{html.escape(t[len("ecoresp "):].capitalize())}</a>' for _, p, t in PAGES)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"generator\" content=\"docs/build_docs.py from docs/{md_name}, "
            f"Python-Markdown {markdown.__version__}\">\n"
            f"<title>{html.escape(title)}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n"
            f"<nav class=\"top\">{nav}</nav>\n"
            f"{body}\n</body>\n</html>\n")


def _literal_ustar(text):
    """u* (friction velocity) is text, not the start of an emphasis: ``u*`` -> ``u\\*`` outside code."""
    out = []
    for line in text.split("\n"):
        if line.startswith("    ") and not line.lstrip().startswith(("-", "|")):
            out.append(line)  # a code block, or a list item's continuation: left as it is
            continue
        parts = line.split("`")
        parts[::2] = [re.sub(r"(?<![\w\\])u\*", r"u\\*", p) for p in parts[::2]]
        out.append("`".join(parts))
    return "\n".join(out)


def _nest_lists(text):
    """The guides indent nested list items and their continuation lines by 2 spaces and start a list
    right under a paragraph line; Python-Markdown nests by 4 and needs a blank line: double the
    indentation inside lists and add the blank line (code blocks outside lists are left alone)."""
    out, in_list = [], False
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if re.match(r"(?:[-*]|\d+\.) ", stripped) and (indent == 0 or in_list):
            if not in_list and out and out[-1].strip() and not out[-1].startswith(("    ", "|")):
                out.append("")  # a list right under a paragraph line: Python-Markdown needs a blank line
            in_list = True
        elif not line.strip():
            pass
        elif indent == 0:
            in_list = False
        out.append(" " * (2 * indent) + stripped if in_list and indent else line)
    return "\n".join(out)


HELP_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="docs/build_docs.py">
<meta http-equiv="refresh" content="0; url=../{target}">
<title>ecoresp {name}: help</title>
</head>
<body>
<p><a href="../{target}">{name} in the ecoresp user guide</a></p>
</body>
</html>
"""


def help_pages():
    """{relative path: text} of the forwarding page of every algorithm section of the user guide
    (help/<name>.html -> #alg-<name>), and of its section on the shipped models (help/models.html)."""
    with open(os.path.join(DOCS, "user_guide.md"), encoding="utf-8") as fh:
        text = fh.read()
    anchors = {n: f"alg-{n}" for n in re.findall(r"\{#alg-([\w-]+)\}", text)}
    if "{#models}" in text:
        anchors["models"] = "models"
    return {os.path.join("help", f"{n}.html"): HELP_PAGE.format(name=n, target=f"user_guide.html#{a}")
            for n, a in anchors.items()}


def outputs():
    """{path relative to docs/html: text} of every file the build writes."""
    out = {page: render(md_name) for md_name, page, _ in PAGES}
    out.update(help_pages())
    return out


def build(check=False):
    """Write (or, with ``check``, compare) every page; returns the pages that differ."""
    stale = []
    os.makedirs(os.path.join(HTML_DIR, "help"), exist_ok=True)
    for page, text in outputs().items():
        path = os.path.join(HTML_DIR, page)
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                old = fh.read()
        if old != text:
            stale.append(page)
            if not check:
                with open(path, "w", encoding="utf-8", newline="\n") as fh:
                    fh.write(text)
    return stale


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report pages that are out of date")
    args = parser.parse_args(argv)
    stale = build(check=args.check)
    for page in stale:
        print(("out of date: " if args.check else "written: ") + os.path.join("docs", "html", page))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
