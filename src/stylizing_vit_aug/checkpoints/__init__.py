"""Checkpoint files: safe reading, key clean-up, architecture inference and strict loading
(:mod:`.reading`), after the safetensors header (:mod:`.header`) and the architecture
(:mod:`.architecture`: limits, the header's shapes) are checked; one checkpoint folder with its
config.json and model card (:mod:`.folder`, :mod:`.card`); the statistics and Stylizer settings
a checkpoint records, resolved against the caller's (:mod:`.recorded`); the bundled default's
folder and name (:mod:`.bundled`); the errors (:mod:`.errors`).

:mod:`stylizing_vit_aug.hub` decides *where* weights come from; this package turns a weights file
into a :class:`~stylizing_vit_aug.model.StylizingViT` and a model into a folder. Only safetensors
is read: a pickled file can run arbitrary code when it is opened, so it is refused, never
unpickled.
"""

from .._folder_swap import write_directory_atomically
from .architecture import (
    MAX_PARAMETERS,
    check_architecture,
    check_shapes,
    config_from_dict,
    expected_shapes,
    parameter_count,
)
from .bundled import BUNDLED_WEIGHTS_DIR, DEFAULT_ALIAS, card_load_hint
from .card import LIBRARY_NAME, model_card
from .errors import (
    CheckpointError,
    CorruptCheckpoint,
    MissingStatistics,
    NotACheckpoint,
    StateDictMismatch,
    UnsafeCheckpointFormat,
)
from .folder import (
    CARD_NAME,
    CONFIG_NAME,
    FORMAT_VERSION,
    STYLIZER_SETTINGS,
    WEIGHTS_NAME,
    check_saved_dtype,
    float32_list,
    jsonable,
    read_config,
    write_checkpoint,
)
from .header import FLOAT_DTYPES, SafetensorsHeader, TensorInfo, read_header
from .reading import (
    BANK_FORMAT,
    PICKLE_SUFFIXES,
    RECORD_KEY,
    FileRecord,
    check_values,
    checked_num_heads,
    clean_state_dict,
    file_record,
    infer_config,
    load_model_file,
    load_weights,
    model_from_state_dict,
    read_state_dict,
    record_metadata,
    refuse_pickle_suffix,
    same_float32,
)

__all__ = [
    "BANK_FORMAT",
    "BUNDLED_WEIGHTS_DIR",
    "CARD_NAME",
    "CONFIG_NAME",
    "DEFAULT_ALIAS",
    "FLOAT_DTYPES",
    "FORMAT_VERSION",
    "LIBRARY_NAME",
    "MAX_PARAMETERS",
    "PICKLE_SUFFIXES",
    "RECORD_KEY",
    "STYLIZER_SETTINGS",
    "WEIGHTS_NAME",
    "CheckpointError",
    "CorruptCheckpoint",
    "FileRecord",
    "MissingStatistics",
    "NotACheckpoint",
    "SafetensorsHeader",
    "StateDictMismatch",
    "TensorInfo",
    "UnsafeCheckpointFormat",
    "card_load_hint",
    "check_architecture",
    "check_saved_dtype",
    "check_shapes",
    "check_values",
    "checked_num_heads",
    "clean_state_dict",
    "config_from_dict",
    "expected_shapes",
    "file_record",
    "float32_list",
    "infer_config",
    "jsonable",
    "load_model_file",
    "load_weights",
    "model_card",
    "model_from_state_dict",
    "parameter_count",
    "read_config",
    "read_header",
    "read_state_dict",
    "record_metadata",
    "refuse_pickle_suffix",
    "same_float32",
    "write_checkpoint",
    "write_directory_atomically",
]
