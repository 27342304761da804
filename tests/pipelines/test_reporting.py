"""The comparison report on hand-made per-question predictions whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from data_selection.pipelines.reporting.nodes import compare_methods

JUDGE = {"seeds": [0, 1], "metrics": ["accuracy", "option_nll"], "bootstrap_resamples": 500, "bootstrap_seed": 0, "min_questions": 10}


def _evaluation(method: str, correct: np.ndarray, nll: np.ndarray, seeds=("0", "1"), model="m", budget=40) -> dict:
    rows = [
        {"seed": seed, "id": f"q{q:03d}", "task": "mmlu" if q % 2 else "bbh", "correct": bool(correct[s, q]),
         "option_nll": float(nll[s, q]), "letter_mass": 0.5, "response_loss": float(nll[s, q]) + 1}
        for s, seed in enumerate(seeds) for q in range(correct.shape[1])
    ]
    return {f"{method}__predictions": rows, f"{method}__metrics": {"seeds": list(seeds), "target_model": model},
            f"{method}__summary": {"selected": budget}}


def test_identical_predictions_give_a_zero_width_delta_and_a_known_mean():
    rng = np.random.default_rng(0)
    correct = rng.random((2, 40)) < 0.5
    nll = rng.random((2, 40))
    table, _ = compare_methods(JUDGE, **_evaluation("random", correct, nll), **_evaluation("copy", correct, nll))
    row = table[(table["method"] == "copy") & (table["metric"] == "accuracy")].iloc[0]
    assert row["mean"] == pytest.approx(correct.mean())
    assert row["std"] == pytest.approx(np.std(correct.mean(axis=1), ddof=1))
    assert row["n_seeds"] == 2 and row["train_examples"] == 40
    assert row["delta_vs_random"] == row["delta_ci95_low"] == row["delta_ci95_high"] == 0.0
    assert row["ci95_low"] <= row["mean"] <= row["ci95_high"]


def test_a_uniform_shift_is_the_delta_and_the_plot_has_a_panel_per_metric():
    correct = np.zeros((2, 40), dtype=bool)
    nll = np.ones((2, 40))
    table, figure = compare_methods(JUDGE, **_evaluation("random", correct, nll), **_evaluation("better", correct, nll - 0.25))
    row = table[(table["method"] == "better") & (table["metric"] == "option_nll")].iloc[0]
    assert row["delta_vs_random"] == pytest.approx(-0.25)
    assert row["delta_ci95_low"] == pytest.approx(-0.25) and row["delta_ci95_high"] == pytest.approx(-0.25)
    assert len(figure.axes) == 2


def test_refuses_methods_judged_over_other_seeds_or_targets():
    c, n = np.zeros((2, 40), dtype=bool), np.ones((2, 40))
    one_seed = _evaluation("less", c[:1], n[:1], seeds=("0",))
    with pytest.raises(ValueError, match="judge.seeds"):
        compare_methods(JUDGE, **_evaluation("random", c, n), **one_seed)
    with pytest.raises(ValueError, match="its baseline random on 'm'"):
        compare_methods(JUDGE, **_evaluation("random", c, n), **_evaluation("less", c, n, model="other"))
    with pytest.raises(ValueError, match="pipeline `random_large`"):
        compare_methods(JUDGE, {"s2l": "random_large"}, **_evaluation("random", c, n), **_evaluation("s2l", c, n, model="big"))
    with pytest.raises(ValueError, match="different numbers of examples"):
        compare_methods(JUDGE, **_evaluation("random", c, n), **_evaluation("less", c, n, budget=20))
    with pytest.raises(ValueError, match="random baseline"):
        compare_methods(JUDGE, **_evaluation("less", c, n))


def test_too_few_questions_for_a_confidence_interval_is_an_error():
    c, n = np.zeros((2, 6), dtype=bool), np.ones((2, 6))
    with pytest.raises(ValueError):
        compare_methods(JUDGE, **_evaluation("random", c, n), **_evaluation("less", c, n))


def test_each_target_is_compared_with_its_own_random_baseline():
    """Two targets in one table: a SmolLM2 method against random, a Gemma method against random_large."""
    rng = np.random.default_rng(1)
    correct = rng.random((2, 40)) < 0.5
    nll = rng.random((2, 40)) + 1.0
    evaluations = {
        **_evaluation("random", correct, nll, model="small"),
        **_evaluation("less", correct, nll - 0.5, model="small"),
        **_evaluation("random_large", correct, nll - 0.25, model="large"),
        **_evaluation("small2large", correct, nll - 0.375, model="large"),
    }
    baselines = {"less": "random", "random": "random", "small2large": "random_large", "random_large": "random_large"}
    table, figure = compare_methods(JUDGE, baselines, **evaluations)
    rows = table[table["metric"] == "option_nll"].set_index("method")
    assert rows.loc["less", "baseline"] == "random" and rows.loc["small2large", "baseline"] == "random_large"
    assert rows.loc["less", "delta_vs_random"] == pytest.approx(-0.5)  # against random, not random_large
    assert rows.loc["small2large", "delta_vs_random"] == pytest.approx(-0.125)  # against random_large
    assert rows.loc["random_large", "delta_vs_random"] == 0.0
    assert rows.loc["small2large", "target_model"] == "large" and rows.loc["less", "target_model"] == "small"
    assert rows.loc["small2large", "mean"] == pytest.approx((nll - 0.375).mean())
    assert list(rows.index) == ["less", "small2large", "random", "random_large"]  # methods, then the baselines
    assert len(figure.axes) == 2


def test_gradient_cost_columns_come_from_each_methods_cost_dataset():
    rng = np.random.default_rng(3)
    correct, nll = rng.random((2, 40)) < 0.5, rng.random((2, 40))
    cost = {"less_predictor__cost": {"gradients": 1116, "fraction_of_full_less": 0.261}}
    table, _ = compare_methods(JUDGE, **_evaluation("random", correct, nll), **_evaluation("less_predictor", correct, nll),
                               **cost)
    row = table[(table["method"] == "less_predictor") & (table["metric"] == "accuracy")].iloc[0]
    assert row["real_gradients"] == 1116 and row["gradient_fraction_of_full_less"] == 0.261
    assert table[table["method"] == "random"]["real_gradients"].isna().all()  # no cost dataset: empty, not 0


def _comparison_table_script():
    """``scripts/comparison_table.py`` (the Markdown renderer of the README's tables), imported from its file."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "comparison_table.py"
    spec = importlib.util.spec_from_file_location("comparison_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_report_shows_each_methods_gradient_count_in_the_table_and_the_plot():
    rng = np.random.default_rng(4)
    correct, nll = rng.random((2, 40)) < 0.5, rng.random((2, 40))
    costs = {"less_predictor__cost": {"gradients": 626, "fraction_of_full_less": 626 / 2138},
             "less__cost": {"gradients": 2138, "fraction_of_full_less": 1.0}}
    table, figure = compare_methods(JUDGE, **_evaluation("random", correct, nll), **_evaluation("less", correct, nll),
                                    **_evaluation("less_predictor", correct, nll), **costs)
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert labels == ["less\n2,138 grads, 100 %", "less_predictor\n626 grads, 29 %", "random"]
    lines = _comparison_table_script().render(table, ["accuracy"]).splitlines()
    assert lines[0] == "| method | seeds | real gradients | accuracy (95% CI) | Δ vs random (95% CI) |"
    assert lines[1] == "|---|---|---|---|---|"
    cells = {line.split(" | ")[0][2:]: line.split(" | ")[2] for line in lines[2:]}
    assert cells == {"less": "2,138 (100.0 % of LESS)", "less_predictor": "626 (29.3 % of LESS)", "random": ""}


def test_a_table_without_gradient_costs_has_no_gradient_column():
    rng = np.random.default_rng(5)
    correct, nll = rng.random((2, 40)) < 0.5, rng.random((2, 40))
    table, figure = compare_methods(JUDGE, **_evaluation("random", correct, nll), **_evaluation("selectit", correct, nll))
    lines = _comparison_table_script().render(table, ["accuracy", "option_nll"]).splitlines()
    assert "real gradients" not in lines[0] and lines[1] == "|" + "---|" * 6
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["selectit", "random"]


def test_the_compare_pipelines_read_less_and_the_predictors_gradient_counts():
    from data_selection.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    report = [n for n in pipelines["compare_all"].nodes if n.name == "compare_methods"][0]
    assert {"less.gradient_counts", "less_predictor.gradient_counts"} <= set(report.inputs)
    core = [n for n in pipelines["compare"].nodes if n.name == "compare_methods"][0]
    assert "less.gradient_counts" in core.inputs and "less_predictor.gradient_counts" not in core.inputs
