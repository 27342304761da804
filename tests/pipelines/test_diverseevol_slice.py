"""DiverseEvol's round nodes as a Kedro pipeline slice (``SequentialRunner``) on a tiny random Llama and a toy pool.

Checks against independent computations: round 0 is the seeded uniform draw, each later round's picks are the
brute-force farthest-first picks in the embedding space of the previous round's saved adapter; a simulated
interruption followed by ``only_missing_outputs=True`` recomputes only the missing rounds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from data_selection.pipelines.diverseevol.parameters import MAX_ROUNDS, DiverseEvolParams, round_sizes
from data_selection.pipelines.registry import method_pipeline, registered_methods

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = [f"w{i}" for i in range(40)]
PARAMS = {
    "init_label_num": 2, "n_round": 2, "n_query": None, "seed": 3,
    "embedding": {"max_length": 32, "batch_size": 4},
    "round_finetune": {
        "lora": {"rank": 2, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
        "training": {"epochs": 1, "learning_rate": 1e-2, "batch_size": 2, "max_length": 32},
    },
}
SELECTION = {"budget_fraction": 0.5, "max_samples": None, "seed": 0}  # 6 of 12 = 2 + 2 x 2


def _pool(n: int = 12) -> list[dict]:
    rng = np.random.default_rng(0)
    pool = []
    for i in range(n):
        user = " ".join(rng.choice(WORDS, size=2 + i % 4))
        answer = " ".join(rng.choice(WORDS, size=1 + i % 3))
        pool.append({"id": f"ex{i}", "source": "alpaca_gpt4_demo", "subtask": None,
                     "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]})
    return pool


@pytest.fixture()
def tiny_lm():
    from data_selection.llm.models import CausalLM
    from tests.llm.conftest import CHAT_TEMPLATE, build_tokenizer

    tokenizer = build_tokenizer(CHAT_TEMPLATE)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, initializer_range=0.3, pad_token_id=tokenizer.pad_token_id,
    )
    return CausalLM(transformers.LlamaForCausalLM(config).eval(), tokenizer, "tiny-llama")


class _Counter:
    """A Kedro hook that records the nodes the runner executes."""

    def __init__(self):
        self.ran: list[str] = []

    @hook_impl
    def before_node_run(self, node):
        self.ran.append(node.name)


def _catalog(folder, tiny_lm, params) -> DataCatalog:
    from data_selection.io.datasets import DataFrameDataset, JSONDataset, TensorBundleDataset

    datasets = {
        "pool": MemoryDataset(_pool()), "base_model": MemoryDataset(tiny_lm, copy_mode="assign"), "target_test": MemoryDataset([]),
        "params:diverseevol": MemoryDataset(DiverseEvolParams.model_validate(params)),
        "params:selection": MemoryDataset(SELECTION), "params:evaluate": MemoryDataset({}),
    }
    for r in range(MAX_ROUNDS + 1):
        base = folder / f"round_{r}"
        datasets[f"diverseevol.round_{r}_selection"] = DataFrameDataset(str(base / "selection.csv"))
        datasets[f"diverseevol.round_{r}_adapter"] = TensorBundleDataset(str(base / "adapter"))
        datasets[f"diverseevol.round_{r}_finetune_summary"] = JSONDataset(str(base / "finetune_summary.json"))
        datasets[f"diverseevol.round_{r}_embedding_summary"] = JSONDataset(str(base / "embedding_summary.json"))
    datasets["diverseevol.selection"] = DataFrameDataset(str(folder / "selection.csv"))
    return DataCatalog(datasets)


def _rounds_pipeline():
    return method_pipeline(registered_methods()["diverseevol"]).to_nodes("diverseevol.final_selection")


def _run(pipeline, catalog, only_missing: bool = False) -> list[str]:
    from kedro.framework.hooks.manager import _create_hook_manager

    counter = _Counter()
    manager = _create_hook_manager()
    manager.register(counter)
    SequentialRunner().run(pipeline, catalog, hook_manager=manager, only_missing_outputs=only_missing)
    return counter.ran


def _brute_force_farthest_first(points: np.ndarray, selected: list[int], k: int) -> list[int]:
    from scipy.spatial.distance import cdist

    distances, chosen = cdist(points, points), list(selected)
    for _ in range(k):
        nearest = distances[:, chosen].min(axis=1)
        nearest[chosen] = -1
        chosen.append(int(np.argmax(nearest)))
    return chosen[len(selected):]


def test_rounds_follow_the_algorithm_and_resume_only_missing_rounds(tmp_path, tiny_lm):
    from data_selection.core.selection import random_indices
    from data_selection.llm.embeddings import embed_records

    catalog = _catalog(tmp_path, tiny_lm, PARAMS)
    # a run killed after round 1: rounds 0 and 1 are saved, nothing later
    first = _run(_rounds_pipeline().to_nodes("diverseevol.evolve_round_1"), catalog)
    assert first == ["diverseevol.evolve_round_0", "diverseevol.evolve_round_1"]
    saved = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    assert not (tmp_path / "round_2" / "selection.csv").exists()

    second = _run(_rounds_pipeline(), catalog, only_missing=True)
    assert second == [f"diverseevol.evolve_round_{r}" for r in range(2, MAX_ROUNDS + 1)] + ["diverseevol.final_selection"]
    for path, mtime in saved.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed"

    pool = _pool()
    rounds = [catalog.load(f"diverseevol.round_{r}_selection") for r in range(3)]
    assert [len(t) for t in rounds] == round_sizes(6, PARAMS) == [2, 4, 6]
    assert rounds[0]["pool_index"].tolist() == random_indices(12, 2, 3).tolist()
    lora = {**PARAMS["round_finetune"]["lora"], "init_seed": 3}
    for r in (1, 2):
        adapter = catalog.load(f"diverseevol.round_{r - 1}_adapter")["adapter"]["tensors"]
        points = embed_records(tiny_lm, pool, 32, batch_size=1, lora_params=lora, adapter_state=adapter)
        expected = _brute_force_farthest_first(points.astype(np.float64), rounds[r - 1]["pool_index"].tolist(), 2)
        assert rounds[r]["pool_index"].tolist() == rounds[r - 1]["pool_index"].tolist() + expected
        assert (rounds[r]["round"].to_numpy()[-2:] == r).all()
    # the last round's model is not needed (the text track fine-tunes on the final set); later slots are skipped
    assert catalog.load("diverseevol.round_2_adapter") == {}
    assert catalog.load(f"diverseevol.round_{MAX_ROUNDS}_finetune_summary") == {"round": MAX_ROUNDS, "active": False}
    final = catalog.load("diverseevol.selection")
    assert final["id"].tolist() == [f"ex{i}" for i in rounds[2]["pool_index"]]
    assert final["rank"].tolist() == list(range(1, 7)) and final["score"].isna().all()


def test_a_schedule_that_misses_the_budget_fails_before_any_training(tmp_path, tiny_lm):
    params = {**PARAMS, "n_query": 1}  # 2 + 2 x 1 = 4, budget 6
    catalog = _catalog(tmp_path, tiny_lm, params)
    with pytest.raises(ValueError, match=r"2 \+ 2 \* 1 = 4, but the shared budget"):
        _run(_rounds_pipeline(), catalog)
    assert not (tmp_path / "round_0" / "adapter").exists()
    with pytest.raises(ValueError, match="not a positive multiple"):
        round_sizes(7, {"init_label_num": 2, "n_round": 2})


@pytest.mark.parametrize("bad", [{"n_round": MAX_ROUNDS + 1}, {"n_rounds": 2}, {"round_eval_questions": 10}])
def test_schema_rejects_bad_parameters(bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        DiverseEvolParams.model_validate({**PARAMS, **bad})


class _OrthogonalEmbedder:
    """Every pool text gets its own axis: any set of n distinct texts has Vendi score exactly n."""

    def __init__(self, texts: list[str]):
        self.index = {t: i for i, t in enumerate(texts)}

    def encode(self, texts, **kwargs):
        out = np.zeros((len(texts), len(self.index)))
        out[np.arange(len(texts)), [self.index[t] for t in texts]] = 2.0
        return out


def test_report_rounds_vendi_against_hand_values():
    from data_selection.pipelines.diverseevol.nodes import report_rounds, vendi_text

    pool = _pool()
    params = DiverseEvolParams.model_validate(PARAMS)
    tables = [pd.DataFrame({"id": [f"ex{i}" for i in idx], "pool_index": idx}) for idx in ([0, 1], [0, 1, 5, 7], [0, 1, 5, 7, 2, 3])]
    outputs = []
    for r in range(MAX_ROUNDS + 1):
        summary = {"train_loss": 1.0 + r, "evaluation": {"round_test3_option_nll": 0.5 * r}} if r < 2 else {"active": r <= 2}
        outputs += [tables[min(r, 2)], summary]
    frame, figure, history = report_rounds(pool, _OrthogonalEmbedder([vendi_text(p) for p in pool]), params, *outputs)
    assert frame["round"].tolist() == [0, 1, 2] and frame["size"].tolist() == [2, 4, 6]
    np.testing.assert_allclose(frame["vendi"], [2, 4, 6], rtol=1e-9)
    np.testing.assert_allclose(frame["random_vendi_mean"], [2, 4, 6], rtol=1e-9)  # distinct random texts: same
    assert frame["train_loss"].tolist()[:2] == [1.0, 2.0] and np.isnan(frame["train_loss"].iloc[2])
    assert [p["step"] for p in history["round_vendi"]] == [0, 1, 2]
    assert [p["step"] for p in history["round_train_loss"]] == [0, 1]
    assert frame["round_test3_option_nll"].tolist()[:2] == [0.0, 0.5]
    assert [p["value"] for p in history["round_test3_option_nll"]] == [0.0, 0.5]
    assert len(figure.axes) == 2 and figure.axes[0].get_xlabel() == "round"  # Vendi, and the evaluated metric


def test_evaluate_every_round_scores_every_round_model_on_one_fixed_slice(tmp_path, tiny_lm):
    from data_selection.core.selection import random_indices
    from data_selection.pipelines.evaluate.nodes import evaluate_model
    from tests.llm.test_evaluation import ROWS

    params = {**PARAMS, "evaluate_every_round": True, "round_eval_questions": 3}
    catalog = _catalog(tmp_path, tiny_lm, params)
    catalog["target_test"] = MemoryDataset(ROWS)
    _run(_rounds_pipeline().to_nodes("diverseevol.evolve_round_2"), catalog)
    questions = [ROWS[int(i)] for i in np.sort(random_indices(len(ROWS), 3, 3))]  # seeded by diverseevol.seed
    recipe = {**PARAMS["round_finetune"]["lora"], "init_seed": 3}
    for r in range(3):
        summary = catalog.load(f"diverseevol.round_{r}_finetune_summary")
        bundle = catalog.load(f"diverseevol.round_{r}_adapter")
        assert bundle, f"round {r}: the last round is trained too when every round is evaluated"
        expected, _, _ = evaluate_model(tiny_lm, bundle, questions, {"lora": recipe}, {})
        assert set(summary["evaluation"]) == {f"round_test3_{m}" for m in ("option_nll", "accuracy", "letter_mass", "test_response_loss")}
        assert summary["evaluation"]["round_test3_option_nll"] == pytest.approx(expected["option_nll"], rel=1e-5)
