"""Helpers shared by the tests: problem assertions (`problems`), audit trail reads (`audit`)."""
