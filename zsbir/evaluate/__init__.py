"""zsbir.evaluate"""
