"""Reading and normalising data: JSON scanning, one module per source format, targets, splits and mixtures.

Framework-free (standard library and NumPy; no Kedro import). Modules:

* :mod:`.scan` -- JSON arrays / JSON Lines with verbatim raw text and ``file:line`` errors;
* :mod:`.collect` -- record ids, validation outcomes and the bad-records report (pool record schema);
* :mod:`.alpaca`, :mod:`.sharegpt`, :mod:`.messages`, :mod:`.bigbench` -- one module per source format;
* :mod:`.config` -- named sources as configuration (format, location, options), reading their files;
* :mod:`.targets` -- MMLU and BIG-bench multiple-choice targets (options shuffled by question id);
* :mod:`.mixture` -- validation/test splits and the seeded pool mixture.
"""

from .alpaca import normalise_alpaca
from .bigbench import normalise_bigbench_tasks, normalise_natural_instructions
from .collect import content_id
from .config import FORMATS, SourceSpec, normalise_source, parse_source, read_text
from .messages import normalise_messages
from .mixture import check_mixture, name_seed, sample_mixture, split_validation_test
from .scan import (
    JSON_ARRAY,
    JSON_LINES,
    BadRecordError,
    RawRecord,
    detect_container,
    iter_json_array,
    iter_json_lines,
    iter_json_records,
)
from .sharegpt import normalise_sharegpt
from .targets import load_bigbench_multiple_choice, load_mmlu, shuffle_choices

__all__ = [
    "FORMATS",
    "JSON_ARRAY",
    "JSON_LINES",
    "BadRecordError",
    "RawRecord",
    "SourceSpec",
    "check_mixture",
    "content_id",
    "detect_container",
    "iter_json_array",
    "iter_json_lines",
    "iter_json_records",
    "load_bigbench_multiple_choice",
    "load_mmlu",
    "name_seed",
    "normalise_alpaca",
    "normalise_bigbench_tasks",
    "normalise_messages",
    "normalise_natural_instructions",
    "normalise_sharegpt",
    "normalise_source",
    "parse_source",
    "read_text",
    "sample_mixture",
    "shuffle_choices",
    "split_validation_test",
]
