"""The identity layer: framework-free rules every app shares (imports only stdlib and core)."""
