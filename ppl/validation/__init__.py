"""Validation of inference at scale: many fits on a Dask cluster (:mod:`ppl.validation.many`)
and simulation-based calibration with TARP (:mod:`ppl.validation.study`), from the numbers of
:mod:`ppl.validation.calibration`. Imported when first used: it brings in Dask."""
