"""Thin FastAPI adapters: they parse, call one domain function, and shape the answer."""
