"""A service's success reply is the JSON ``RpcReply`` would write, made without building it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

from messaging.contracts import Reply
from messaging.rpc import RpcReply, _success


class PaymentAuthorised(Reply):
    message_type: ClassVar[str] = "payments.payment.authorised"
    authorisation: str
    amount: Decimal
    at: datetime
    lines: list[dict[str, int]]
    note: str | None = None


def test_success_reply_is_what_rpc_reply_writes() -> None:
    result = PaymentAuthorised(
        authorisation="auth-ü-✓",
        amount=Decimal("12.30"),
        at=datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        lines=[{"sku": 1}, {"sku": 2}],
    )
    expected = RpcReply(ok=True, result=result.model_dump(mode="json")).model_dump_json()

    assert _success(result) == expected.encode()
    assert RpcReply.model_validate_json(_success(result)).result == result.model_dump(mode="json")


def test_a_step_without_result_replies_with_an_empty_result() -> None:
    assert _success(None) == RpcReply(ok=True, result={}).model_dump_json().encode()
