"""The centre of vxdial: pure Python, no I/O, importing nothing else from vxdial.

Other packages import these modules, not their names: ``calls.CallState.QUEUED``.
"""
