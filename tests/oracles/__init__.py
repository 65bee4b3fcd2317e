"""Brute-force references: the slow, literal definitions the vectorised code is tested against."""
