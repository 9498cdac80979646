"""Pure helpers of the web routes: where a form may send the browser back to, and the
history of counts the chart draws."""

from __future__ import annotations

import collections
from datetime import timedelta

from tests.conftest import T0
from vxdial.domain import calls, campaigns
from vxdial.web import render
from vxdial.web.routes import HISTORY_SAMPLES, _History, back_to, campaign_url


def summary(queued: int, completed: int = 0, campaign_id: int = 1) -> campaigns.CampaignSummary:
    counts = dict.fromkeys(calls.CallState, 0)
    counts[calls.CallState.QUEUED] = queued
    counts[calls.CallState.COMPLETED] = completed
    campaign = campaigns.Campaign(
        id=campaign_id,
        sender_id=1,
        name="c",
        state=campaigns.CampaignState.ACTIVE,
        settings=None,
        created_at=T0,
    )
    return campaigns.CampaignSummary(campaign, counts)


def test_back_goes_only_to_our_own_pages() -> None:
    assert back_to({"back": "/web/campaigns"}, "/d") == "/web/campaigns"
    for unsafe in ("https://evil.example/", "//evil.example/web/", "/webx", "/\\evil", ""):
        assert back_to({"back": unsafe}, "/web/default") == "/web/default"
    assert back_to({}, "/web/default") == "/web/default"


def test_campaign_names_are_quoted_in_urls() -> None:
    assert campaign_url("spring 2026/a") == "/web/campaigns/spring%202026%2Fa"
    assert render.urlname("a&b") == "a%26b"


def test_history_keeps_one_sample_per_interval_and_a_bounded_length() -> None:
    history = _History(collections.OrderedDict())
    first = history.add(summary(10), T0)
    assert [s["counts"]["queued"] for s in first] == [10]
    # Within the interval the latest replaces the last sample.
    again = history.add(summary(9, 1), T0 + timedelta(seconds=1))
    assert len(again) == 1 and again[-1]["counts"]["completed"] == 1
    later = history.add(summary(5, 5), T0 + timedelta(seconds=3))
    assert [s["counts"]["completed"] for s in later] == [1, 5]
    assert later[1]["t"] - later[0]["t"] == 3000
    for i in range(HISTORY_SAMPLES + 10):
        history.add(summary(1), T0 + timedelta(seconds=10 + 2 * i))
    assert len(history.add(summary(1), T0 + timedelta(days=1))) == HISTORY_SAMPLES
    # Another campaign has its own.
    assert len(history.add(summary(3, campaign_id=2), T0)) == 1
