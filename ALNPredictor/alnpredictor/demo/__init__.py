"""alnpredictor.demo"""
