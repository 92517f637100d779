"""Scoring: the tidy forecast table of trusted items (`table`), scores, pairwise skill and the groups kept
apart (`scores`), and the CORP calibration pieces (`calibration`)."""
