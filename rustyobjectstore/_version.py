"""The package's version, in a module of its own so that any layer may import it without the
package root (which imports every layer)."""

__version__ = "0.1.0"
