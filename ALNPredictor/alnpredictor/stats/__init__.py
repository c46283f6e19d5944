"""Statistics clinicians publish: AUC with DeLong CI, paired DeLong, Clopper-Pearson metrics,
calibration, decision curves, NRI/IDI, subgroup AUCs, ICC, sanity warnings.

Modules: ``auc`` (DeLong, paired DeLong, bootstrap), ``metrics`` (Clopper–Pearson, Youden),
``calibration``, ``decision`` (net benefit), ``reclassification`` (NRI, IDI), ``subgroups``,
``checks`` (sanity warnings with stable codes), ``icc``.
"""
