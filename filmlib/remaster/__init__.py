"""FilmRemaster's library: classical removal of dust, blotches, line scratches, flicker and grain (no weights).

:class:`RemasterStage` does the work; :class:`DefectMaskStage` gives what it repaired; :func:`classical_report`
summarises both.
"""
from .report import ChangeMaskStage, change_report, classical_report
from .stage import DUST, SCRATCH, DefectMaskStage, RemasterParams, RemasterStage

METHODS = ("classical", "deepremaster")

__all__ = ["DUST", "SCRATCH", "METHODS", "ChangeMaskStage", "DefectMaskStage", "RemasterParams", "RemasterStage",
           "change_report", "classical_report"]
