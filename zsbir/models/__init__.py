"""zsbir.models"""
