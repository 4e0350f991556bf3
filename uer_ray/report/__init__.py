"""Reports (DESIGN §9; docs/report.md): ``collect`` reads a search folder (also a running one),
run folders or the zoo; ``stats`` and ``evaluate`` decide which differences on the test set are
larger than the noise (paired bootstrap, McNemar); ``plots`` draws the figures (matplotlib);
``page`` writes one self-contained HTML page and a Markdown summary; ``workspace`` generates the
W&B workspace of a search.

    from uer_ray.report import gather, make_report
    make_report(gather(["runs/search/book_review"]), "runs/report")
"""

from uer_ray.report.build import gather, make_report

__all__ = ["gather", "make_report"]
