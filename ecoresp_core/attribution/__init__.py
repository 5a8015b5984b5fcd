"""Attribution of the interannual variability (IAV) of ER to its climate drivers
(docs/methods.md section 15): per-pixel partial correlation and dominant driver
(``partialcorr``), an exploratory per-pixel random-forest importance (``rfattribution``),
summaries per climate zone (``zones``); their raster jobs are ``ecoresp_core.jobs.attribution``."""
