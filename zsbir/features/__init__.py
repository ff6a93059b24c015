"""zsbir.features"""
