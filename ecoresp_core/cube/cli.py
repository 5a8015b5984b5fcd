"""The command line: ``python -m ecoresp_core STEP --option value ...``.

Every heavy step runs outside QGIS on the same kernels as the QGIS algorithms (``ecoresp_core.cube``):

    python -m ecoresp_core trend --input er_monthly.tif --output er_trend.tif
    python -m ecoresp_core predict --model model.npz --drivers tmp=tmp.nc pre=pre.nc --output er.zarr
    python -m ecoresp_core trend --input er.zarr --output trend.tif --scheduler tcp://10.0.0.5:8786

Options are the Processing parameters of the step's algorithm in lower case (``--input``,
``--output``, ``--variable``, ``--model``, ...); ``python -m ecoresp_core STEP --help`` lists
them.  Options of every step say where it runs: ``--scheduler ADDRESS`` (a dask.distributed
scheduler; default: dask's local threads), ``--memory-mb`` (the memory budget the chunks are sized
for: of this process, or of each worker on a cluster), ``--threads`` (local threads) and
``--chunks y=..,x=..`` (chunk the inputs so; default from the memory budget), ``--workers N`` (a
``LocalCluster`` of N worker processes on this machine, started and stopped for the run).

Bad input ends with ``ecoresp: error: <what is wrong>`` on stderr and exit status 1 (never a
traceback); a finished run prints a one-line JSON summary on stdout and exits 0.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys

from ..errors import EcorespError
from .scheduler import DEFAULT_MEMORY_MB, run_on

# step -> (module of ecoresp_core.cube, file-to-file function, one-line description)
STEPS = {
    "trend": ("trends", "trend_files", "Mann-Kendall test and Theil-Sen slope per pixel (ecoresp:trend)"),
    "detrend": ("trends", "detrend_files", "remove the trend (and seasonal cycle) per pixel (ecoresp:detrend)"),
    "predict": ("upscaling", "predict_files", "monthly ER from a fitted upscaling model and driver rasters "
                "(ecoresp:predictupscaler)"),
    "integrate": ("upscaling", "integrate_files", "global and zonal ER totals in Pg C/yr (ecoresp:integrate)"),
    "partialcorrelation": ("attribution", "partialcorrelation_files",
                           "partial correlation of ER with each driver per pixel (ecoresp:partialcorrelation)"),
    "rfattribution": ("attribution", "rfattribution_files",
                      "random-forest importance of each driver per pixel (ecoresp:rfattribution)"),
    "partition": ("sites", "partition_files", "batch partitioning of tower site-years, one task per site-year "
                  "(ecoresp:partition)"),
}
# parameters given as NAME=VALUE pairs (a dict), and as several values (a list), when the file
# function's default or annotation does not say so
MAPPING_PARAMETERS = {"*": {"drivers", "aggregation", "aggregations"}, "partition": {"columns", "units"}}
LIST_PARAMETERS = {"*": {"inputs"}, "partition": {"input"}}


def _named(table, step, name):
    return name in table["*"] or name in table.get(step, ())
# parameters every file function may take that the command line fills itself
_RUNTIME = {"where", "progress", "cancelled", "memory_mb"}  # memory_mb: --memory-mb of every step


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        raise SystemExit(f"ecoresp: error: {message}")


def _step_function(step):
    module, name, _ = STEPS[step]
    try:
        mod = importlib.import_module(f"{__package__}.{module}")
        return getattr(mod, name)
    except (ImportError, AttributeError) as exc:  # a missing optional package (distributed, zarr, ...)
        raise SystemExit(f"ecoresp: error: the step {step} cannot be loaded ({exc})") from None


def _key_values(items, option):
    """``['tmp=a.tif', 'pre=b.nc']`` -> ``{'tmp': 'a.tif', 'pre': 'b.nc'}``."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SystemExit(f"ecoresp: error: --{option}: {item!r} is not NAME=VALUE")
        if name.strip() in out:
            raise SystemExit(f"ecoresp: error: --{option}: {name.strip()!r} is given twice")
        out[name.strip()] = value.strip()
    return out


def _boolean(text):
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _add_parameter(parser, param, doc, step):
    """An option for one parameter of a file function, typed from its default and annotation:
    bool -> true/false, int, float, dict -> NAME=VALUE ..., list/tuple -> several values."""
    flag = "--" + param.name.replace("_", "-")
    default = param.default
    required = default is inspect.Parameter.empty
    annotation = str(param.annotation)
    kw = {"dest": param.name, "help": doc.get(param.name, "")}
    if required:
        kw["required"] = True
    else:
        kw["default"] = default
        if default not in (None, "", {}, []):
            kw["help"] = f"{kw['help']} (default: {default})".strip()
    if isinstance(default, bool):
        kw.update(type=_boolean, metavar="true|false")
    elif isinstance(default, int):
        kw["type"] = int
    elif isinstance(default, float):
        kw["type"] = float
    elif _is_mapping(param, step):
        kw.update(nargs="+", metavar="NAME=VALUE")
    elif isinstance(default, (list, tuple)) or "list" in annotation or _named(LIST_PARAMETERS, step, param.name):
        kw.update(nargs="+")
    parser.add_argument(flag, **kw)


def _is_mapping(param, step):
    return (isinstance(param.default, dict) or "dict" in str(param.annotation)
            or _named(MAPPING_PARAMETERS, step, param.name))


def _parameter_docs(fn):
    """``{name: text}`` for the parameters a docstring describes in ``name: text`` lines."""
    docs = {}
    for line in (inspect.getdoc(fn) or "").splitlines():
        name, sep, rest = line.strip().partition(":")
        name = name.strip("`* ").split(" ")[0]
        if sep and name.isidentifier() and rest.strip():
            docs.setdefault(name, rest.strip())
    return docs


def build_parser():
    parser = _Parser(prog="python -m ecoresp_core", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", metavar="STEP")
    for step, (_, _, text) in STEPS.items():
        sub.add_parser(step, help=text, add_help=False)
    return parser


def step_parser(step):
    fn = _step_function(step)
    p = _Parser(prog=f"python -m ecoresp_core {step}", description=STEPS[step][2])
    docs = _parameter_docs(fn)
    for param in inspect.signature(fn).parameters.values():
        if param.name in _RUNTIME or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        _add_parameter(p, param, docs, step)
    g = p.add_argument_group("where it runs")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of a dask.distributed scheduler (tcp://host:8786); default: local threads")
    g.add_argument("--memory-mb", type=float, default=None,
                   help=f"memory budget (MB) the chunks are sized for (default {DEFAULT_MEMORY_MB}; on a "
                        "cluster, per worker: the workers' memory limit)")
    g.add_argument("--threads", type=int, default=None,
                   help="threads of the local scheduler (default: the cores), or of each --workers process (1)")
    g.add_argument("--workers", type=int, default=None,
                   help="start a dask.distributed LocalCluster of this many worker processes on this machine")
    g.add_argument("--chunks", default=None, metavar="y=ROWS,x=COLS",
                   help="chunk the inputs in space so (default: from the memory budget); the time axis is "
                        "always one chunk")
    return fn, p


def parse_chunks(text):
    """``'y=100,x=200'`` -> ``{'y': 100, 'x': 200}``."""
    if not text:
        return None
    out = {}
    for part in text.split(","):
        dim, sep, size = part.partition("=")
        dim = dim.strip()
        if not sep or dim not in ("y", "x") or not size.strip().isdigit() or int(size) < 1:
            raise SystemExit(f"ecoresp: error: --chunks: {part!r} is not y=ROWS or x=COLS (positive whole numbers)")
        out[dim] = int(size)
    return out


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0 if argv else 2
    step = argv[0]
    if step not in STEPS:
        top.error(f"unknown step {step!r}; choose one of {', '.join(STEPS)}")
    fn, parser = step_parser(step)
    args = vars(parser.parse_args(argv[1:]))
    scheduler, memory_mb, threads = args.pop("scheduler"), args.pop("memory_mb"), args.pop("threads")
    workers = args.pop("workers")
    if workers is not None and scheduler:
        raise SystemExit("ecoresp: error: give --workers (a local cluster) or --scheduler (a running one), not both")
    chunks = parse_chunks(args.pop("chunks"))
    params = inspect.signature(fn).parameters
    for name, value in list(args.items()):
        p = params[name]
        if isinstance(value, list) and _is_mapping(p, step):
            args[name] = _key_values(value, name.replace("_", "-"))
    if chunks is not None and step == "partition":
        raise SystemExit("ecoresp: error: --chunks does not apply to the step partition (one task per site-year)")
    try:
        with run_on(scheduler, memory_mb=memory_mb if memory_mb is not None or scheduler else DEFAULT_MEMORY_MB,
                    threads=threads, workers=workers, malloc="tasks" if step == "partition" else "chunks") as where:
            where.chunks = chunks
            summary = fn(**args, where=where)
    except EcorespError as exc:
        raise SystemExit(f"ecoresp: error: {exc}") from None
    except KeyboardInterrupt:
        raise SystemExit("ecoresp: cancelled") from None
    except Exception as exc:  # a defect of ecoresp, not bad input: one line, the traceback on demand
        if os.environ.get("ECORESP_DEBUG"):
            raise
        raise SystemExit(f"ecoresp: error: {step} failed unexpectedly ({type(exc).__name__}: {exc}); this is a "
                         "defect of ecoresp: please report it with the command (ECORESP_DEBUG=1 shows where "
                         "it happened)") from None
    print(json.dumps({"step": step, "where": where.describe(), **_plain(summary)}))
    return 0


def _plain(summary):
    """The summary items a JSON line can show: numbers, text, paths and lists or dicts of them (the
    Python objects a step also returns, tables and results, are left out)."""
    def ok(v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return True
        if isinstance(v, (list, tuple)):
            return all(ok(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, str) and ok(x) for k, x in v.items())
        return isinstance(v, os.PathLike)
    if not isinstance(summary, dict):
        return {}
    return {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in summary.items() if ok(v)}
