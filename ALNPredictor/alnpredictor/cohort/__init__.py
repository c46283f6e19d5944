"""alnpredictor.cohort"""
