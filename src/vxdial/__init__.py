"""vxdial: a self-hosted outbound voice calling platform.

The public surface is the command line (``vxdial``), the HTTP services and the
configuration file; see README.md. Inside, ``app.py`` wires the packages.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
