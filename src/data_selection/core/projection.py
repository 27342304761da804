"""Seeded random projections that preserve inner products (Johnson-Lindenstrauss), framework-free.

LESS projects ~10^6-dimensional LoRA gradients to d = 8192 with TRAK's Rademacher projector (LESS §3.1,
"random projection"). Two projectors with the same interface are provided; the choice is the LESS
parameter ``projection``:

* :class:`RademacherProjector` (``"rademacher"``): dense ±1/√d entries, the distribution of TRAK's
  ``BasicProjector``/``CudaProjector``. The D×d matrix is never stored: it is regenerated block by block
  from ``(seed, block index)``. Cost O(D·d) per example, fine on a GPU, slow on a CPU.
* :class:`SparseJLProjector` (``"sparse_jl"``, the CPU default): each input coordinate is sent to ``s``
  random output coordinates with random signs ±1/√s (a sparse JL transform; Kane & Nelson, J. ACM 2014,
  §2, "the CountSketch-type construction"). Unbiased, ⟨Px, Py⟩ has the same leading variance
  (‖x‖²‖y‖² + ⟨x,y⟩²)/d as a dense projection, and it costs O(D·s) per example.

Both are deterministic functions of ``(input_dim, output_dim, seed)``: the pool and the validation set
must be projected with the same instance or an identical one (LESS pitfall 7).
"""

from __future__ import annotations

import math
import warnings

import torch


class _Projector:
    input_dim: int
    output_dim: int
    seed: int

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"expected input of shape (batch, {self.input_dim}), got {tuple(x.shape)}")
        return x.to(torch.float32)

    def project(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError


class RademacherProjector(_Projector):
    """Dense Rademacher projection R ∈ {±1/√d}^(D×d), generated in row blocks from a seed.

    Args:
        input_dim: D, the gradient dimension.
        output_dim: d, the projection dimension.
        seed: one seed for the whole matrix (LESS uses 0).
        block_size: rows of R generated at a time; trades memory (block_size × d floats) for speed.
        device: where R's blocks are generated and multiplied.

    ``project(x)`` maps a float tensor (batch, D) to float32 (batch, d).
    """

    def __init__(self, input_dim: int, output_dim: int, seed: int = 0, block_size: int = 16_384, device="cpu"):
        if input_dim <= 0 or output_dim <= 0 or block_size <= 0:
            raise ValueError("input_dim, output_dim and block_size must be positive")
        self.input_dim, self.output_dim, self.seed = int(input_dim), int(output_dim), int(seed)
        self.block_size = int(block_size)
        self.device = torch.device(device)

    def _block(self, index: int, rows: int) -> torch.Tensor:
        generator = torch.Generator(device=self.device).manual_seed(self.seed * 1_000_003 + index)
        bits = torch.randint(0, 2, (rows, self.output_dim), generator=generator, device=self.device)
        return (bits.to(torch.float32) * 2.0 - 1.0) / math.sqrt(self.output_dim)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x).to(self.device)
        out = torch.zeros(x.shape[0], self.output_dim, dtype=torch.float32, device=self.device)
        for index, start in enumerate(range(0, self.input_dim, self.block_size)):
            stop = min(start + self.block_size, self.input_dim)
            out += x[:, start:stop] @ self._block(index, stop - start)
        return out


class SparseJLProjector(_Projector):
    """Sparse JL transform with ``nonzeros_per_column`` ±1/√s entries per input coordinate.

    Args:
        input_dim: D.
        output_dim: d.
        seed: seed of the hash (row) and sign choices.
        nonzeros_per_column: s >= 1; s = 1 is CountSketch. Larger s concentrates better for sparse inputs.

    The matrix is stored as a sparse CSR tensor of shape (d, D) with D·s entries (int64 indices, float32
    values: about 20·D·s bytes; 90 MB for D = 1.1M, s = 4). ``project(x)`` maps (batch, D) to (batch, d).
    """

    def __init__(self, input_dim: int, output_dim: int, seed: int = 0, nonzeros_per_column: int = 4):
        if input_dim <= 0 or output_dim <= 0 or nonzeros_per_column <= 0:
            raise ValueError("input_dim, output_dim and nonzeros_per_column must be positive")
        self.input_dim, self.output_dim, self.seed = int(input_dim), int(output_dim), int(seed)
        self.nonzeros_per_column = int(nonzeros_per_column)
        generator = torch.Generator().manual_seed(self.seed)
        s = self.nonzeros_per_column
        rows = torch.randint(0, self.output_dim, (self.input_dim * s,), generator=generator)
        signs = torch.randint(0, 2, (self.input_dim * s,), generator=generator).to(torch.float32) * 2.0 - 1.0
        cols = torch.arange(self.input_dim).repeat_interleave(s)
        # indices are in range by construction, so torch's invariant checks are explicitly off (saying so silences
        # its "checks are implicitly disabled" warning); CSR is "beta" in torch, a warning a user cannot act on
        coo = torch.sparse_coo_tensor(
            torch.stack([rows, cols]), signs / math.sqrt(s), (self.output_dim, self.input_dim), check_invariants=False
        ).coalesce()  # duplicates (same row hit twice by one column) are summed, which keeps E[PᵀP] = I
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self._matrix = coo.to_sparse_csr()

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, D) -> (batch, d) on ``x``'s device: the sparse matrix moves there once (a CUDA sparse matmul on a
        GPU, O(D s) per example, where the dense projector regenerates D x d entries per batch)."""
        x = self._check(x)
        if self._matrix.device != x.device:
            self._matrix = self._matrix.to(x.device)
        return (self._matrix @ x.T).T.contiguous()


def make_projector(kind: str, input_dim: int, output_dim: int, seed: int = 0, **options) -> _Projector:
    """Build a projector by its parameter name: ``"sparse_jl"`` or ``"rademacher"``.

    Raises:
        ValueError: unknown kind.
    """
    if kind == "sparse_jl":
        return SparseJLProjector(input_dim, output_dim, seed, **options)
    if kind == "rademacher":
        return RademacherProjector(input_dim, output_dim, seed, **options)
    raise ValueError(f"unknown projection {kind!r}; expected 'sparse_jl' or 'rademacher'")


def jl_tolerance(output_dim: int, failure_probability: float = 1e-3) -> float:
    """ε such that a JL projection keeps |⟨Px,Py⟩ - ⟨x,y⟩| <= ε‖x‖‖y‖ with probability >= 1 - δ.

    From the sub-Gaussian tail bound for a single pair (Achlioptas 2003, Thm 1.1 proof, and Kane & Nelson
    2014 for sparse JL): ε = sqrt(8 · ln(2/δ) / d).
    """
    return math.sqrt(8.0 * math.log(2.0 / failure_probability) / output_dim)
