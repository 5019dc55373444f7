"""``domains=`` of ``from_images`` and ``bank.domains`` take one label per style in order: a dict was iterated for its
keys (every style its own domain, named after its path) and a set in an order of its own, silently."""

from __future__ import annotations

import pytest

import stylizing_vit_aug as sva


@pytest.mark.parametrize("labels", [lambda n: {f"style{i}.png": "he" for i in range(n)},
                                    lambda n: {f"d{i}" for i in range(n)},
                                    lambda n: frozenset(f"d{i}" for i in range(n))], ids=["dict", "set", "frozenset"])
def test_labels_without_an_order_of_the_styles_are_refused(small_stylizer, histology_crops, bank, labels):
    with pytest.raises(TypeError, match="one label per style in the styles' order"):
        sva.StyleBank.from_images(histology_crops, small_stylizer, domains=labels(len(histology_crops)), encode=False)
    before = list(bank.domains)
    with pytest.raises(TypeError, match="one label per style in the styles' order"):
        bank.domains = labels(len(bank))
    assert bank.domains == before


def test_labels_in_a_tuple_or_any_sequence_are_taken_in_order(small_stylizer, histology_crops):
    bank = sva.StyleBank.from_images(histology_crops, small_stylizer, domains=tuple("abcab"), encode=False)
    assert bank.domains == list("abcab")
