"""Every SQL statement of vxdial, as named functions over a ``Connection``.

Each returns frozen domain dataclasses (never rows) and is called by ``store.Store``
inside the transaction it opened. Nothing outside ``store/`` builds SQL.
"""
