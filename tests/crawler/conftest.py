"""The `serve` fixture lives in tests/conftest.py, shared with the workflow tests."""
