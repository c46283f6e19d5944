"""alnpredictor.report"""
