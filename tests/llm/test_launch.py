"""Multi-process training from one Kedro node (``llm.launch``): two gloo CPU ranks through ``torchrun`` must train
the same LoRA weights and Adam moments as one process with the same global batch (DDP averages the ranks'
gradients), and a failing launcher must say so with its command and output."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from data_selection.llm.launch import WORKER_ENV, launch_training, launcher_command  # noqa: E402
from data_selection.llm.models import CausalLM  # noqa: E402
from data_selection.llm.training import train_lora  # noqa: E402

WORDS = [f"w{i}" for i in range(40)]  # in the tests' WordLevel vocabulary (tests/llm/conftest.py)

LORA = {"rank": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "init_seed": 3}


def _records(n: int) -> list[dict]:
    generator = torch.Generator().manual_seed(5)
    out = []
    for i in range(n):
        words = [WORDS[j] for j in torch.randint(0, len(WORDS), (3 + i % 4,), generator=generator).tolist()]
        out.append({"messages": [{"role": "user", "content": " ".join(words[:2])},
                                 {"role": "assistant", "content": " ".join(words[2:] + ["qa"])}]})
    return out


@pytest.fixture(scope="module")
def saved_lm(tmp_path_factory, chat_tokenizer):
    """A tiny Llama and its tokenizer saved to a folder (what ``CausalLM.path`` points each rank at)."""
    tokenizer = chat_tokenizer
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-llama")
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    from data_selection.llm.models import load_causal_lm

    return load_causal_lm(str(folder), device="cpu")


def _train_params(batch_size: int, launcher: dict | None = None) -> dict:
    params = {"epochs": 2, "learning_rate": 5e-2, "lr_scheduler": "linear", "warmup_ratio": 0.0,
              "weight_decay": 0.0, "batch_size": batch_size, "gradient_accumulation_steps": 1, "max_length": 32,
              "seed": 7}
    return {**params, "launcher": launcher} if launcher else params


def test_launcher_commands():
    accelerate = launcher_command({"num_processes": 8, "command": "accelerate", "extra_args": ["--main_process_port", 29600]}, "/j")
    assert accelerate[1:] == ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "8",
                              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                              "--main_process_port", "29600", "-m", "data_selection.llm.launch", "/j"]
    torchrun = launcher_command({"num_processes": 2, "command": "torchrun"}, "/j")
    assert torchrun[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                            "-m", "data_selection.llm.launch", "/j"]
    with pytest.raises(ValueError, match="unknown launcher command"):
        launcher_command({"num_processes": 2, "command": "mpirun"}, "/j")


def test_a_failing_launcher_reports_its_command_and_output(saved_lm):
    launcher = {"num_processes": 2, "command": "torchrun", "extra_args": ["--no-such-option"]}
    with pytest.raises(RuntimeError, match=r"(?s)multi-process training failed \(exit \d+\).*--no-such-option"):
        launch_training(saved_lm, _records(4), LORA, _train_params(1), launcher)


def test_inside_a_worker_training_never_launches_again(saved_lm, monkeypatch):
    monkeypatch.setenv(WORKER_ENV, "1")
    monkeypatch.setattr("data_selection.llm.training.launch_training",
                        lambda *a, **k: pytest.fail("a worker launched again"))
    lm = CausalLM(saved_lm.model, saved_lm.tokenizer, saved_lm.name, saved_lm.path)
    _, _, summary = train_lora(lm, _records(2), LORA, _train_params(2, {"num_processes": 2, "command": "torchrun"}))
    assert summary["train_examples"] == 2 and "num_processes" not in summary


@pytest.mark.slow
def test_two_torchrun_ranks_train_like_one_process_with_the_same_global_batch(saved_lm):
    records = _records(8)
    # one process, 2 examples per step
    state_1, snaps_1, summary_1 = train_lora(saved_lm, records, LORA, _train_params(2), snapshot_each_epoch=True)
    # two gloo ranks, 1 example each per step: the same 2 examples per optimiser step, gradients averaged by DDP
    launcher = {"num_processes": 2, "command": "torchrun"}
    state_2, snaps_2, summary_2 = train_lora(
        saved_lm, records, LORA, _train_params(1, launcher), snapshot_each_epoch=True
    )
    assert summary_2["num_processes"] == 2
    assert [s["step"] for s in snaps_2] == [s["step"] for s in snaps_1] == [4, 8]
    assert state_2.keys() == state_1.keys()
    for name in state_1:
        torch.testing.assert_close(state_2[name], state_1[name], rtol=1e-4, atol=1e-6)
    for s1, s2 in zip(snaps_1, snaps_2):
        assert s2["mean_lr"] == pytest.approx(s1["mean_lr"])
        for name in s1["exp_avg"]:
            torch.testing.assert_close(s2["exp_avg"][name], s1["exp_avg"][name], rtol=1e-4, atol=1e-7)
            torch.testing.assert_close(s2["exp_avg_sq"][name], s1["exp_avg_sq"][name], rtol=1e-4, atol=1e-9)
    # the comparison is not trivial: training moved the B matrices away from their zero init
    assert max(float(t.abs().max()) for n, t in state_1.items() if "lora_B" in n) > 1e-3
