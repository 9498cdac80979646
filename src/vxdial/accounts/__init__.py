"""Accounts: PIN hashing and checking, the login throttle, and the account operations
shared by the command line, the API and the web interface.
"""

from vxdial.accounts.auth import Authenticator, LoginThrottle
from vxdial.accounts.pins import PinHasher, generate_pin, validate_login, validate_pin
from vxdial.accounts.service import Accounts

__all__ = [
    "Accounts",
    "Authenticator",
    "LoginThrottle",
    "PinHasher",
    "generate_pin",
    "validate_login",
    "validate_pin",
]
