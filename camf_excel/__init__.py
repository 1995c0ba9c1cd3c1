"""camf-excel: follow-up workbooks for Quebec PFM and MADA action plans."""

__version__ = "0.1.0"
