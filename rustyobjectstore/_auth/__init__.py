"""Credentials: refreshing providers and the SDK adapters, each cloud's default chain (one module
per cloud), and the one table of URL schemes. Below the configurations, above the worker layer."""
