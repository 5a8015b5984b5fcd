"""Upscaling: site-month ER and gridded drivers to monthly ER rasters and global totals
(science.md sections 10-13)."""
