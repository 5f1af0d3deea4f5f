"""Evaluation of explanations: localization against ground truth, and sanity checks."""

from revelio.eval.localization import heat, pointing_game, relevance_mass, relevance_rank

__all__ = ["heat", "pointing_game", "relevance_mass", "relevance_rank"]
