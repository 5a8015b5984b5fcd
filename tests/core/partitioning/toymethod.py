"""A toy partitioning method for the registry tests (core and QGIS), defined outside the package:
ER = the mean measured night-time NEE of the site-year, GPP = ER - NEE."""

import pandas as pd


def night_mean_method(registry):
    """The toy as a PartitionMethod of ``registry``: ``ecoresp_core.partitioning.methods``, or the
    plugin's own copy ``ecoresp.ecoresp_core.partitioning.methods`` inside QGIS."""

    class NightMean(registry.PartitionMethod):
        """A test method: constant ER, the site-year's mean night-time NEE."""
        code = "NIGHTMEAN"
        label = "constant ER = mean measured night-time NEE (toy)"

        def run(self, site_year, context):
            df = site_year.data
            night = (df["SW_IN_POT"] <= 0) & df["NEE"].notna()
            if context.fit_qc_only:
                night &= df["NEE_QC"] == 0
            er = float(df.loc[night, "NEE"].mean())
            reco = pd.Series(er, index=df.index)
            w = pd.DataFrame({"start": [df.index[0]], "end": [df.index[-1]], "rref": [er], "n": [int(night.sum())]})
            return registry.MethodResult(
                reco=reco, gpp=reco - df["NEE"], parameters={"ER_NIGHTMEAN": er},
                windows=[registry.FitWindows.from_frame("whole year", w, RREF_NIGHT="rref", N="n")],
                flags=[f"{int(night.sum())} night records"])

    return NightMean
