"""``lstm``: long short-term memory (Hochreiter & Schmidhuber 1997), left to right; the
recurrent machinery is ``rnn``'s."""

from __future__ import annotations

from torch import nn

from uer_ray.encoders.base import ENCODERS
from uer_ray.encoders.rnn import RnnEncoder


@ENCODERS.register("lstm")
class LstmEncoder(RnnEncoder):
    """(B,T,D), padding_mask (B,T) -> (B,T,H); left to right."""

    cell = nn.LSTM
    bidirectional = False
