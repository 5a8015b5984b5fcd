"""Site partitioning of half-hourly/hourly NEE into ER and GPP (NEE = ER - GPP):
night-time (Reichstein 2005), day-time (Lasslop 2010), DT-RH, light inhibition,
machine-learning daytime ER, isotopes, evaluation.  docs/methods.md sections 1-11."""
