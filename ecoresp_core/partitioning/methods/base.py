"""The partition-method interface, its result type and the method registry.

A partitioning method is a :class:`PartitionMethod` registered with :func:`register`; the site
partitioning (:func:`~ecoresp_core.partitioning.sitepartition.partition_site`), ``parse_methods``
and the ``ecoresp:partition`` algorithm take the codes, labels and help from :func:`methods`.
A new method is one new module in this package (every module of the package is imported on first
use of the registry), or a :func:`register` call from anywhere::

    import pandas as pd

    from .base import MethodResult, PartitionMethod, register

    @register
    class NightMean(PartitionMethod):
        "Constant ER, the mean measured night-time NEE (the docstring is the help text)."
        code = "NIGHTMEAN"                      # output columns RECO_NIGHTMEAN, GPP_NIGHTMEAN, ...
        label = "constant ER = mean measured night-time NEE"

        def run(self, site_year, context):
            df = site_year.data
            er = df.loc[(df["SW_IN_POT"] <= 0) & (df["NEE_QC"] == 0), "NEE"].mean()
            reco = pd.Series(er, index=df.index)
            return MethodResult(reco=reco, gpp=reco - df["NEE"], parameters={"ER_NIGHTMEAN": er})

Methods needing another's result declare it (``requires = ("NT",)``) and find it in
``context.result("NT")``; :func:`run_order` puts them after it.
"""

import inspect
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...errors import InputError
from ..qc import NO_VALUE, no_value

#: columns of the window table filled from a method's :class:`FitWindows`, in output order
WINDOW_COLUMNS = ("E0_K", "E0_SE_K", "RREF_NIGHT", "RREF_DAY", "GAMMA", "GAMMA_SE", "ALPHA", "BETA", "K", "N",
                  "VALID", "SELECTED", "CODE")


@dataclass
class FitWindows:
    """The fitting windows of one stage of a method, in the window-table schema.

    Attributes
    ----------
    stage : str
        E.g. 'E0 night-time window', 'light-response window'.
    start, end : numpy.ndarray of datetime64
        First and last record time of each window.
    values : dict
        {column of :data:`WINDOW_COLUMNS`: array per window}; absent columns are NaN.  E0_K,
        E0_SE_K in K; RREF_NIGHT, RREF_DAY (at Tref 15 degC), BETA in umol CO2 m-2 s-1; ALPHA in
        umol CO2 J-1; K in hPa-1; GAMMA, GAMMA_SE in %-1; N records; VALID, SELECTED 1/0; CODE
        the fit code of the light-response fit.
    """
    stage: str
    start: np.ndarray
    end: np.ndarray
    values: dict = field(default_factory=dict)

    @classmethod
    def from_frame(cls, stage, frame, **columns):
        """Windows from a DataFrame with ``start`` and ``end`` columns; ``columns`` maps window-table
        columns to ``frame`` columns (VALID defaults to 'valid'); absent sources give NaN."""
        columns.setdefault("VALID", "valid")
        values = {col: frame[src].values for col, src in columns.items() if src is not None and src in frame}
        return cls(stage, pd.to_datetime(frame["start"]).values, pd.to_datetime(frame["end"]).values, values)


@dataclass
class MethodResult:
    """What a partitioning method returns for one site-year.

    Attributes
    ----------
    reco, gpp : pandas.Series
        Ecosystem respiration and gross primary production per record (umol CO2 m-2 s-1) on the
        site-year's index.
    qc : array-like, optional
        Per record: 0 good, 1 parameters refitted or fall-back, 2 nearest fitting window (or
        training record) > 14 days away, 9 no estimate (NaN counts as 9); see
        :mod:`ecoresp_core.partitioning.qc`.  None: 0 everywhere.  Records without RECO always get 9.
    windows : list of FitWindows
        The fitting windows, one entry per stage.
    parameters : dict
        Site-year summary columns of the method (e.g. E0 in K, Q10, gamma), in output order.
    flags : list of str
        Fall-backs and diagnostics.
    temperature_sensitivity : dict
        {'' or 'night'/'day': E0 (K)} for the report's temperature-response plot.
    native : object
        The method's own result object (e.g. a NighttimeResult) for further analysis.
    series : dict
        Further per-record columns of the output table ({column name: Series}), e.g.
        ``GPP_<code>_RECO_MINUS_NEE`` of the day-time methods, whose GPP is the modelled one.
    """
    reco: pd.Series
    gpp: pd.Series
    qc: object = None
    windows: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    temperature_sensitivity: dict = field(default_factory=dict)
    native: object = None
    series: dict = field(default_factory=dict)

    def qc_codes(self, n):
        """``qc`` as int16 codes (NaN -> 9), zeros when the method gives none; 9 wherever RECO is
        missing (e.g. a gap in TA), so that a record without a value never reads as good."""
        qc = np.zeros(n, dtype="int16") if self.qc is None else np.asarray(
            pd.Series(self.qc).fillna(NO_VALUE), dtype="int16")
        return no_value(qc, self.reco) if self.reco is not None else qc


@dataclass
class MethodContext:
    """What :meth:`PartitionMethod.run` gets besides the site-year.

    Attributes
    ----------
    options : dict
        Keyword options of this method (``partition_site(options={option_key: {...}})``).
    all_options : dict
        The whole ``options`` of ``partition_site`` (e.g. 'kok', 'KOK').
    results : dict
        {code: MethodResult} of the methods already run for this site-year and not failed; every
        code in ``requires`` that succeeded is there.
    step_seconds : float
        Length of a record (s).
    fit_qc_only : bool
        Fit measured NEE (NEE_QC == 0) only (default); False: gap-filled NEE may be fitted too.  A
        method passes it to its fits (its own ``options`` may override it).
    """
    options: dict = field(default_factory=dict)
    all_options: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    step_seconds: float = 1800.0
    fit_qc_only: bool = True

    def result(self, code):
        """The result of ``code`` for this site-year, None if it was not run or failed."""
        return self.results.get(code)


class PartitionMethod:
    """A partitioning method: subclass it, set the class attributes, implement :meth:`run`.

    Attributes
    ----------
    code : str
        Upper-case letters and digits; the column suffix (RECO_<code>, GPP_<code>, QC_<code>).
    label : str
        One line for lists and reports.
    help : str
        A few sentences for the algorithm help; default: the first paragraph of the class
        docstring.
    requires : tuple of str
        Codes whose results :meth:`run` uses (run before it, also when not requested; a failed
        one is simply absent from ``context.results``).
    option_key : str or None
        Key of this method's options in ``partition_site(options=...)`` (default: ``code``).
    reference : tuple of str or None
        (GPP, RECO) reference columns of the tower table to compare with; default
        (GPP_<code>_REF, RECO_<code>_REF), used when the tower table has them (FLUXNET files
        have them for NT and DT).
    default : bool
        Part of the default method list.
    gpp_modelled : bool
        GPP is a model of its own (the light-response GPP of the day-time methods), not RECO - NEE:
        the site summary then states how RECO - GPP fits the measured day-time NEE
        (``NEE_<code>_DAY_RMSE``).
    order : float
        Position in method lists (built-ins 10-50; new methods 100 unless set).
    """
    code = ""
    label = ""
    requires = ()
    option_key = None
    reference = None
    default = False
    gpp_modelled = False
    order = 100.0

    @property
    def help(self):
        doc = inspect.getdoc(type(self)) if type(self).__doc__ else ""
        return " ".join(doc.split("\n\n")[0].split()) if doc else ""

    @property
    def references(self):
        """(GPP, RECO) reference columns: ``reference`` or (GPP_<code>_REF, RECO_<code>_REF)."""
        return self.reference or (f"GPP_{self.code}_REF", f"RECO_{self.code}_REF")

    def run(self, site_year, context):
        """Partition one site-year.

        Parameters
        ----------
        site_year : ecoresp_core.io.towers.TowerData
            One calendar year of the tower table (``site.year``, ``site.complete_year`` set).
        context : MethodContext

        Returns
        -------
        MethodResult
        """
        raise NotImplementedError

    def compare(self, result, others):
        """Extra summary columns that need other requested methods' results (``others``:
        {code: MethodResult} of the requested methods that succeeded).  Default: none."""
        return {}


_REGISTRY = {}
_SEQ = []


def register(method):
    """Register a :class:`PartitionMethod` (class or instance; usable as a class decorator).
    Re-registering a code replaces the earlier method.  Returns ``method``."""
    inst = method() if isinstance(method, type) else method
    code = str(inst.code)
    if not code or not code.isalnum() or code != code.upper():
        raise InputError(f"method code {code!r}: use upper-case letters and digits only")
    if not inst.label:
        raise InputError(f"method {code}: give it a label")
    if code not in _REGISTRY:
        _SEQ.append(code)
    _REGISTRY[code] = inst
    return method


def unregister(code):
    """Remove a method from the registry (e.g. a test's toy method)."""
    _REGISTRY.pop(code, None)
    if code in _SEQ:
        _SEQ.remove(code)


def methods():
    """The registered methods, ordered by ``order`` then registration."""
    _load_builtin()
    return sorted((_REGISTRY[c] for c in _SEQ), key=lambda m: (m.order, _SEQ.index(m.code)))


def get(code):
    """The method registered as ``code``; InputError listing the codes otherwise."""
    _load_builtin()
    try:
        return _REGISTRY[code]
    except KeyError:
        raise InputError(f"unknown method {code!r}; use any of {', '.join(m.code for m in methods())}") from None


def run_order(codes):
    """``codes`` with every required method before its users: required methods that are not
    requested first (in the order they are first required), then the requested ones, each
    preceded by its own requirements.  Raises InputError on a requirement cycle."""
    extra = []
    for c in codes:
        for r in get(c).requires:
            if r not in codes and r not in extra:
                extra.append(r)
    order, stack = [], []

    def visit(c):
        if c in order:
            return
        if c in stack:
            raise InputError(f"methods: requirement cycle {' -> '.join(stack + [c])}")
        stack.append(c)
        for r in get(c).requires:
            visit(r)
        stack.pop()
        order.append(c)

    for c in extra + list(codes):
        visit(c)
    return order


_loaded = []


def _load_builtin():
    """Import every module of this package once (each registers its methods)."""
    if _loaded:
        return
    _loaded.append(True)
    import importlib
    import pkgutil

    from .. import methods as pkg
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name != "base":
            importlib.import_module(f"{pkg.__name__}.{info.name}")
