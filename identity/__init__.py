"""The identity layer: framework-free rules about credentials, below the apps and above ``core``."""
