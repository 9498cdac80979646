"""The dialer: claims due calls, dials them through a telephony driver, runs the
answered ones' VoiceXML applications, and records every attempt's end.

``Dialer.run()`` is the loop of ``vxdial worker`` (and of ``vxdial serve`` unless
``--no-dialer``).
"""

from vxdial.dialer.loop import Dialer, worker_name

__all__ = ["Dialer", "worker_name"]
