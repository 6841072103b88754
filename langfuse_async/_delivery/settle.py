"""What follows from one request: delivered, failed, retry, exhausted, rerouted, or sent in halves.

:func:`settle` is pure: it reads a :class:`~.sender.SendOutcome` and the items' attempts and
returns a :class:`Settlement`; it sends nothing, sleeps on nothing and changes no item. The
worker applies it: counts, reports, schedules retries, and sends what it says to send again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .._outcomes import EventError
from . import batching as _batching
from .inflight import Item
from .ledger import event_error
from .routing import Route
from .sender import SendOutcome

__all__ = ["NOT_ACCEPTED_MESSAGE", "Settlement", "settle"]

#: The report of an event the ingestion route refused by type when the route is fixed.
NOT_ACCEPTED_MESSAGE = (
    "Event type not accepted (the server takes traces only over OTLP; "
    "use transport='otlp' or 'auto')"
)


@dataclasses.dataclass(frozen=True, slots=True)
class Settlement:
    """The decisions about the events of one request.

    Attributes:
        delivered: Events the server took.
        failed: Events that end here, with the report of each (refused, or out of retries).
        retry: Events to send again after a backoff.
        attempt: How many retries came before the coming one, for the backoff.
        retry_after: The server's ``Retry-After``, in seconds.
        pause: The whole request failed: pause all sending for the backoff.
        resend: Batches to send at once, in order (the halves of a batch refused as too large).
        reroute: Events the ingestion route refused by type: switch to OTLP and send them again.
        warnings: ``(key, message)`` of problems to log once per client (wrong keys, wrong URL).
        maybe_sent: Events going on whose request may have been stored (mark them: a later
            report of theirs says ``possibly_delivered``).
    """

    delivered: Sequence[Item] = ()
    failed: Sequence[tuple[Item, EventError]] = ()
    retry: Sequence[Item] = ()
    attempt: int = 0
    retry_after: float | None = None
    pause: bool = False
    resend: Sequence[Sequence[Item]] = ()
    reroute: Sequence[Item] = ()
    warnings: Sequence[tuple[str, str]] = ()
    maybe_sent: Sequence[Item] = ()


def settle(
    out: SendOutcome,
    batch: Sequence[Item],
    route: Route,
    *,
    max_retries: int,
    may_reroute: bool,
    base_url: str,
) -> Settlement:
    """Decide what becomes of each event of ``batch`` after the request ``out`` describes.

    Args:
        out: What the sender said about the request.
        batch: The items sent, in order (for the halves of a 413).
        route: The route the request took (named in a warning).
        max_retries: Retries allowed after the first attempt; an event past them is exhausted.
        may_reroute: Whether events refused by type may switch to the OTLP route
            (``transport="auto"``); if not, they are reported as rejected.
        base_url: The server's address (named in warnings).
    """
    maybe = out.possibly_delivered

    def possibly(item: Item) -> bool:
        # This request, or an earlier one that carried the item, may have been stored.
        return maybe or item.maybe_sent

    failed = [
        (
            f.item,
            event_error(
                f.item.record,
                f.reason,
                f.message,
                status=f.status,
                error=f.error,
                possibly_delivered=possibly(f.item),
            ),
        )
        for f in out.failed
    ]
    reroute: Sequence[Item] = ()
    if out.not_accepted:
        if may_reroute:
            reroute = out.not_accepted
        else:
            failed.extend(
                (
                    item,
                    event_error(
                        item.record,
                        "rejected",
                        NOT_ACCEPTED_MESSAGE,
                        status=400,
                        possibly_delivered=possibly(item),
                    ),
                )
                for item in out.not_accepted
            )
    retry: list[Item] = []
    for r in out.retry:
        attempts = r.item.attempts + 1
        if attempts > max_retries:
            message = f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}: {r.message}"
            failed.append(
                (
                    r.item,
                    event_error(
                        r.item.record,
                        "retries_exhausted",
                        message,
                        status=r.status,
                        error=r.error,
                        possibly_delivered=possibly(r.item),
                    ),
                )
            )
        else:
            retry.append(r.item)
    resend: list[list[Item]] = []
    if out.split:
        if route == "otlp":
            resend.extend(_batching.split_otlp(batch))
        else:
            for half in _batching.split_in_half(range(len(batch))):
                resend.append([batch[i] for i in half])
    return Settlement(
        delivered=out.delivered,
        failed=failed,
        retry=retry,
        attempt=max((item.attempts for item in retry), default=0),
        retry_after=out.retry_after if retry else None,
        pause=out.whole_request and bool(retry),
        resend=resend,
        reroute=reroute,
        warnings=_warnings(out, route, base_url),
        maybe_sent=[*retry, *reroute] if maybe else (),
    )


def _warnings(out: SendOutcome, route: Route, base_url: str) -> list[tuple[str, str]]:
    warnings: list[tuple[str, str]] = []
    if out.tls is not None:
        warnings.append(("tls", f"cannot reach {base_url}: {out.tls} (not retried)"))
    if out.unauthorized:
        status = out.failed[0].status if out.failed else "401"
        warnings.append(
            (
                "auth",
                f"the server refused the credentials (HTTP {status}) for {base_url}; check "
                "LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY and that LANGFUSE_BASE_URL is the "
                "host of that project",
            )
        )
    if out.suspended is not None:
        warnings.append(
            (
                "suspended",
                f"{base_url} refused the events: {out.suspended} (HTTP 403; the keys are "
                "accepted, the project's ingestion is suspended)",
            )
        )
    if out.redirect is not None:
        warnings.append(
            (
                "redirect",
                f"{base_url} answered with a redirect to {out.redirect or '(no Location header)'};"
                " redirects are not followed (they drop the request body): set "
                "LANGFUSE_BASE_URL to the final address",
            )
        )
    if out.not_found is not None:
        warnings.append(
            (
                "not_found",
                f"{base_url} answered {out.not_found} to the {route} route: check that "
                "LANGFUSE_BASE_URL is the Langfuse host, including any path prefix it is "
                "served under",
            )
        )
    return warnings
