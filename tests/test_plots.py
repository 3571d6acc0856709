"""The Pareto front and its plot (tl_text.plots)."""

from tl_text.plots import pareto_front, pareto_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
POINTS = [
    {"label": "fast, weak", "accuracy": 0.85, "std": 0.004, "docs_per_second": 50_000},
    {"label": "slow, strong", "accuracy": 0.90, "std": 0.002, "docs_per_second": 1_500},
    {"label": "dominated", "accuracy": 0.84, "std": 0.0, "docs_per_second": 20_000},
    {"label": "middle", "accuracy": 0.88, "std": 0.003, "docs_per_second": 2_000},
    {"label": "tie on speed, worse", "accuracy": 0.87, "std": 0.0, "docs_per_second": 2_000},
]


def test_pareto_front_keeps_the_undominated_points_fastest_first():
    assert [p["label"] for p in pareto_front(POINTS)] == ["fast, weak", "middle",
                                                          "slow, strong"]


def test_pareto_front_keeps_exact_ties():
    twins = [{"label": name, "accuracy": 0.9, "docs_per_second": 100} for name in "ab"]
    assert pareto_front(twins) == twins


def test_pareto_png():
    png = pareto_png(POINTS, "IMDB at 5 %")
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000


def test_pareto_png_with_a_front_per_group():
    grouped = [{**p, "group": "5 %" if i % 2 else "100 %"} for i, p in enumerate(POINTS)]
    assert pareto_png(grouped).startswith(PNG_MAGIC)
