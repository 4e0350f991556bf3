"""Training on Ray Train (DESIGN §5): ``optim`` (AdamW + warm-up schedules), ``driver`` (one way
to run a per-worker loop on a ``TorchTrainer``, shared with fine-tuning), ``pretrain`` (the
driver side of ``run.py pretrain``), ``worker`` (the per-worker pre-training loop), ``batches``
(the worker's Ray Data stream), ``state`` (resumable checkpoints), ``reporting`` (metrics).

Importing this package pulls in neither torch nor Ray; the modules do, when used.
"""
