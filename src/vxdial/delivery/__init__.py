"""result_url delivery: the outbox's worker.

A call's result is written to the outbox (``deliveries``) in the transaction that makes
the call final, so it can never be lost. This worker leases due results, POSTs them,
and records each attempt: a 2xx answer delivers; anything else (another status, a
timeout, a refused connection) retries with exponential backoff until ``retry_for_s``
(24 hours) after the call ended, then the result is ``failed``. A worker that dies
mid-POST loses its lease and another posts again: delivery is at least once, always
with the same ``X-Vxdial-Delivery`` id, so receivers can drop duplicates.

Every POST is signed: ``X-Vxdial-Signature: sha256=<hex HMAC-SHA256 of the raw body
under the sender's result secret>`` (its current secret, so a rotation applies to
retries too).
"""

from vxdial.delivery.worker import Deliverer, backoff_s, signature

__all__ = ["Deliverer", "backoff_s", "signature"]
