"""The consumer side: records in, requests out, every event settled once and reported.

``Pipeline`` is the front door (admit, flush, shut down); ``worker`` is the loop (take, plan,
send, settle, sleep); a ``Sender`` sends one batch and says what became of each event (the
``HttpSender`` by default); ``settle`` decides what follows; ``Reports`` owns ``on_error``.
Never imports ``_tracing``: only ``_client`` joins the two sides.
"""

from .pipeline import Pipeline
from .sender import HttpSender, Sender, SendOutcome

__all__ = ["HttpSender", "Pipeline", "SendOutcome", "Sender"]
