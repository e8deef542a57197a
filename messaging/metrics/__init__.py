"""Metrics per hop: the families a process registers (``definitions``) and how the messaging
classes record them (``recording``). Import from here::

    from messaging.metrics import Hop, Labels, Metrics, Outcome
"""

from messaging.metrics.definitions import (
    MESSAGING_SYSTEM,
    Clocked,
    Hop,
    Metrics,
    Outcome,
    PublishErrorReason,
)
from messaging.metrics.recording import (
    ConsumedHop,
    ConsumerMetrics,
    Labels,
    PublisherMetrics,
    RetentionMetrics,
    RpcClientMetrics,
    SweepMetrics,
)

__all__ = [
    "MESSAGING_SYSTEM",
    "Clocked",
    "ConsumedHop",
    "ConsumerMetrics",
    "Hop",
    "Labels",
    "Metrics",
    "Outcome",
    "PublishErrorReason",
    "PublisherMetrics",
    "RetentionMetrics",
    "RpcClientMetrics",
    "SweepMetrics",
]
