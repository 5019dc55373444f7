"""A full disk while ``train`` appends to its logs (``log.jsonl``, ``validation.jsonl``) says what the
run's other writes say: before the first checkpoint, rerun with --overwrite; after it, --resume (exit 1,
as for a checkpoint). It used to say "run the command again" (exit 2), which the earlier attempt's files
then refused. Following the advice finishes the run."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from helpers import ARCH, options, read_train_log
from stylizing_vit_aug import cli
from stylizing_vit_aug.train import trainer as trainer_module

# the synthetic-stain objective, 3 steps, a checkpoint at step 2: the fastest tiny run on a CPU
STAIN_RUN = "--init tiny --objective stain --pairing same-domain --max-steps 3 --save-every 2"
RUN = [*STAIN_RUN.split(), *ARCH, *options(validate_every="1")]


def _disk_full_at(monkeypatch: pytest.MonkeyPatch, log: str, step: int) -> None:
    """``log``'s append of ``step`` fails as a full disk does."""
    real = trainer_module.append_json

    def append(path: Path, record: dict) -> None:
        if path.name == log and record.get("step") == step:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))  # as open() says it
        real(path, record)

    monkeypatch.setattr(trainer_module, "append_json", append)


@pytest.mark.parametrize("log", ["log.jsonl", "validation.jsonl"])
@pytest.mark.parametrize(("step", "advice"), [(1, "--overwrite"), (3, "--resume")])
def test_a_log_that_cannot_be_written_gives_advice_that_works(data, tmp_path, monkeypatch, capsys, log, step, advice):
    run = tmp_path / "run"
    argv = ["train", str(data), "-o", str(run), *RUN]
    with monkeypatch.context() as full:
        _disk_full_at(full, log, step)
        assert cli.main(argv) == 1  # as a checkpoint that cannot be written
    err = capsys.readouterr().err
    assert f"cannot write {run / log} at step {step}: No space left on device" in err, err
    other = {"--overwrite", "--resume"} - {advice}
    assert advice in err and not any(option in err for option in other), err
    assert cli.main([*argv, advice]) == 0, capsys.readouterr().err  # the space is free again
    assert [record["step"] for record in read_train_log(run)] == [1, 2, 3]
    validations = (run / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["step"] for line in validations] == [1, 2, 3]


@pytest.mark.parametrize(("error", "full"), [
    ("Error while serializing: I/O error: No space left on device (os error 28)", True),  # what save_file raises
    ("Error while serializing: I/O error: Disk quota exceeded (os error 122)", True),
    ("Error while serializing: I/O error: Permission denied (os error 13)", False),
])
def test_a_full_disk_under_safetensors_is_advised_as_one(tmp_path, error, full):
    """safetensors raises its own error, not an OSError, for a full disk: the advice said to fix "a file in the way"
    (a review). Its text names the OS error, which is what is read."""
    from safetensors import SafetensorError

    from stylizing_vit_aug.train.training_state import explained_write_failure

    with pytest.raises(RuntimeError) as said:
        with explained_write_failure(tmp_path / "last.safetensors", 4, 2):
            raise SafetensorError(error)
    assert ("Free space" in str(said.value)) == full and "continue with --resume" in str(said.value)
