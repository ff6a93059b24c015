"""zsbir.train"""
