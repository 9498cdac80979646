"""Accepting work: checking request fields, probing URLs, streaming phone lists."""

from vxdial.intake.fields import (
    CallRequest,
    CampaignRequest,
    parse_call_request,
    parse_campaign_request,
)
from vxdial.intake.phonelist import line_starts
from vxdial.intake.probe import UrlProbe
from vxdial.intake.service import (
    CampaignUpload,
    IdempotencyKey,
    Intake,
    NoGoodLines,
    QueuedCall,
    UploadReport,
)

__all__ = [
    "CallRequest",
    "CampaignRequest",
    "CampaignUpload",
    "IdempotencyKey",
    "Intake",
    "NoGoodLines",
    "QueuedCall",
    "UploadReport",
    "UrlProbe",
    "line_starts",
    "parse_call_request",
    "parse_campaign_request",
]
