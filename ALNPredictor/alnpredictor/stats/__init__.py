"""Statistics clinicians publish: AUC with DeLong CI, paired DeLong, Clopper-Pearson metrics,
calibration, decision curves, NRI/IDI, subgroup AUCs, ICC, sanity warnings."""
