"""``bilstm``: a forward and a backward LSTM (ELMo, Peters et al. 2018; CoVe, McCann et al. 2017),
the output concatenating forward (first H/2) and backward (last H/2) states."""

from __future__ import annotations

from torch import nn

from uer_ray.encoders.base import ENCODERS
from uer_ray.encoders.rnn import RnnEncoder


@ENCODERS.register("bilstm")
class BiLstmEncoder(RnnEncoder):
    """(B,T,D), padding_mask (B,T) -> (B,T,H); [forward H/2 | backward H/2]."""

    cell = nn.LSTM
    bidirectional = True
