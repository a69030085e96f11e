"""The safeguarding workflows (issue 7): who is told what, beyond the crisis notice.

The pipeline (``gateway.pipeline``) asks this package, in its resolve stage and inside the reader's
thread, who could receive a message:

- ``RESOLVERS`` maps a message kind to the function that finds its candidate recipients (and may
  add rows the workflow keeps, in ``Exchange.writes``, and audit entries, in ``Exchange.events``);
- every function in ``WATCHERS`` sees every exchange after that, and may add messages the gateway
  makes itself (``Exchange.derived``, such as a think-family flag when a new parent-child link
  joins an adult mental health patient to a child open to children's social care).

Everything is decided, minimised, rendered and committed by the pipeline's own stages, under the
agreements: a workflow only proposes recipients, it never discloses.

Modules: ``referrals`` (referral to the front door, acknowledgements, escalation), ``meetings``
(invitations and replies, the conference target), ``notifications`` (child protection plans,
worker changes, subscriptions), ``think_family`` (the flags both ways), ``access`` (who looked up
a child's status). The directory of organisations and roles is ``gateway.directory``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from gateway.directory import learning as directory_learning
from gateway.workflows import meetings, notifications, referrals, think_family
from schemas.message import MessageKind

if TYPE_CHECKING:
    from gateway.pipeline import Exchange
    from gateway.services import Services

Resolver = Callable[["Exchange", Connection, "Services"], None]

RESOLVERS: dict[MessageKind, Resolver] = {
    MessageKind.REFERRAL: referrals.resolve_referral,
    MessageKind.REFERRAL_STATUS: referrals.resolve_referral_status,
    MessageKind.MEETING_INVITATION: meetings.resolve_invitation,
    MessageKind.ICPC_SCHEDULED: meetings.resolve_invitation,
    MessageKind.MEETING_REPLY: meetings.resolve_reply,
    MessageKind.CP_PLAN_STARTED: notifications.resolve_child_notification,
    MessageKind.CP_PLAN_ENDED: notifications.resolve_child_notification,
    MessageKind.ALLOCATED_WORKER_CHANGED: notifications.resolve_child_notification,
    MessageKind.CONSENT_DIRECTIVE: notifications.resolve_consent_directive,
}

WATCHERS: tuple[Resolver, ...] = (directory_learning.watch, think_family.watch)
