"""Upscaling: site-month ER and gridded drivers to monthly ER rasters and global totals
(docs/methods.md sections 10-13)."""
