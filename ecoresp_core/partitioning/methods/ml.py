"""RF, NN: machine-learning daytime ER trained on measured night-time NEE
(:mod:`ecoresp_core.partitioning.mldaytime`)."""

import numpy as np
import pandas as pd

from .. import mldaytime, qc as qcodes
from .base import MethodResult, PartitionMethod, register


class _MLDaytime(PartitionMethod):
    """RECO = the model's ER for every record with complete drivers, GPP = RECO - NEE, QC 9 where
    a driver is missing, 2 where the nearest training record is more than 14 days away.
    Options: ``options['ML']`` (keyword options of ``fit_ml_daytime_er``,
    shared by RF and NN).  ``fit_qc_only``: trained on measured night-time NEE only."""
    model = "rf"
    option_key = "ML"

    def run(self, site_year, context):
        dfy = site_year.data
        ml = mldaytime.fit_ml_daytime_er(site_year, model=self.model,
                                         **{"fit_qc_only": context.fit_qc_only, **context.options})
        reco = ml.reco.reindex(dfy.index)
        pooled = ml.cv_metrics[(ml.cv_metrics["fold"] == "all") & (ml.cv_metrics["scope"] == "target")]
        c = self.code
        params = {f"{c}_CV_R2_night": float(pooled["R2"].iloc[0]) if len(pooled) else float("nan"),
                  f"{c}_CV_RMSE_night": float(pooled["RMSE"].iloc[0]) if len(pooled) else float("nan"),
                  f"{c}_drivers": ",".join(ml.drivers_used)}
        flags = list(ml.flags) + [f"dropped {k}: {v}" for k, v in ml.dropped_drivers.items()]
        # QC 2 where the nearest training record is more than 14 days away (a long gap in measured
        # night NEE: ER predicted from other seasons' data); 9 where a driver is missing
        train_pos = dfy.index.get_indexer(ml.cv_predictions.index)
        far = qcodes.extrapolated(train_pos[train_pos >= 0], len(dfy), site_year.site.records_per_day or 48)
        qc = pd.Series(np.where(far, qcodes.EXTRAPOLATED, qcodes.GOOD), index=dfy.index)
        if far.any():
            flags.append(f"records_far_from_training_data:{int(far.sum())}")
        return MethodResult(reco=reco, gpp=reco - dfy["NEE"], qc=qc, parameters=params, flags=flags, native=ml)


@register
class RandomForest(_MLDaytime):
    """A random forest (scikit-learn) trained on measured night-time NEE predicts ER for every record."""
    code, model, order = "RF", "rf", 40.0
    label = ("random forest trained on measured night-time NEE, predicting ER for every record "
             "(drivers TA, VPD, RH, WS, SWC when present; leave-one-month-out CV)")


@register
class NeuralNetwork(_MLDaytime):
    """A multi-layer perceptron (scikit-learn) trained like RF."""
    code, model, order = "NN", "nn", 41.0
    label = "neural network (MLP) trained like RF"
