"""``run.py search``: arguments -> ``SearchOptions`` -> ``uer_ray.tune.driver.search``.

    python run.py search --space search_spaces/book_review.yaml [--samples N] [--searcher random|grid|optuna]
        [--scheduler asha|fifo] [--max-concurrent N] [--repeat K] [--publish-top N] [--out DIR|URI] [--resume]

Unset options come from the space file's ``budget`` section (docs/search.md).
"""

from __future__ import annotations

import argparse

from uer_ray.cluster import ADDRESS_HELP


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--space", required=True, help="search space YAML (search_spaces/*.yaml)")
    p.add_argument("--out", help="search folder, or a store URI (s3://bucket/searches/NAME) on a cluster without a shared disk (default runs/search/<space name>)")
    p.add_argument("--samples", type=int, help="configurations to try (random, optuna)")
    p.add_argument("--searcher", choices=["random", "grid", "optuna"])
    p.add_argument("--scheduler", choices=["asha", "fifo"],
                   help="asha stops trials whose dev metric trails after each epoch")
    p.add_argument("--max-concurrent", type=int, help="trials at once (default: from the CPUs)")
    p.add_argument("--repeat", type=int, help="re-run the top configurations with K more seeds")
    p.add_argument("--publish-top", type=int, help="configurations written into the zoo")
    p.add_argument("--zoo", help="the zoo to publish into (default UER_RAY_ZOO or ~/.cache/uer_ray/zoo)")
    p.add_argument("--seed", type=int, help="the same seed proposes the same configurations")
    p.add_argument("--resume", action="store_true", help="continue the search in --out")
    p.add_argument("--address", help=ADDRESS_HELP)
    p.add_argument("--wandb-mode", choices=["offline", "online", "disabled"])
    p.add_argument("--wandb-project", default="uer_ray")
    p.add_argument("--quiet", dest="progress", action="store_false")


def run(args: argparse.Namespace) -> int:
    from uer_ray.tune.driver import SearchOptions, search

    fields = SearchOptions.__dataclass_fields__
    search(SearchOptions(**{k: v for k, v in vars(args).items() if k in fields}))
    return 0
