"""Deciding lines in doubt from one read-back: never twice, never a hand-typed component taken
for ours; when Brygga cannot tell, the line is osäker for a person."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from webapp.nmbrs import WageComponent
from webapp.recipients.nmbrs.in_doubt import identify, settle


@dataclass
class L:
    id: int
    employee_ref: str
    wage_code: str
    value: str
    batch: int | None = 1
    comment: str | None = None

    @property
    def amount(self) -> Decimal:
        return Decimal(self.value)


def wc(cid: int, code: int, value: str, comment: str | None = None) -> WageComponent:
    return WageComponent(cid, code, Decimal(value), comment)


MARIA = [L(1, "11", "5100", "750.00"), L(2, "11", "5500", "1234.50")]
JOHAN = [L(3, "12", "5100", "300.00"), L(4, "12", "5500", "99.90")]


def test_a_batch_that_arrived_is_sent_with_its_ids():
    current = {"11": [wc(90, 5100, "750.00"), wc(91, 5500, "1234.50")],
               "12": [wc(92, 5100, "300.00"), wc(93, 5500, "99.90")]}  # fmt: skip
    s = settle(MARIA + JOHAN, current, owned=set(), unidentified=Counter())
    assert sorted((line.id, cid) for line, cid in s.sent) == [
        (1, "90"), (2, "91"), (3, "92"), (4, "93")
    ]  # fmt: skip
    assert s.pending == s.uncertain == []


def test_a_batch_that_never_arrived_goes_back_to_pending():
    s = settle(MARIA + JOHAN, {"11": [], "12": []}, owned=set(), unidentified=Counter())
    assert s.pending == MARIA + JOHAN and s.sent == s.uncertain == []


def test_components_other_lines_own_are_not_taken_for_these():
    # 750,00 on 5100 belongs to an earlier transfer's line (its id is known): not this one's.
    current = {"11": [wc(80, 5100, "750.00")], "12": []}
    s = settle(MARIA + JOHAN, current, owned={"80"}, unidentified=Counter())
    assert s.pending == MARIA + JOHAN


def test_an_earlier_line_without_a_known_id_counts_for_one_component():
    current = {"11": [wc(80, 5100, "750.00")], "12": []}
    earlier = Counter({("11", 5100, Decimal("750.00")): 1})
    s = settle(MARIA + JOHAN, current, owned=set(), unidentified=earlier)
    assert s.pending == MARIA + JOHAN


def test_a_lost_batch_beside_a_hand_typed_twin_is_osaker_never_claimed_nor_resent():
    """Maria has 750,00 on 5100 typed by hand; the batch was lost (nothing else of it is in
    Nmbrs). Her 750,00 might be ours or hers: osäker. The others certainly never arrived."""
    current = {"11": [wc(70, 5100, "750.00")], "12": []}
    s = settle(MARIA + JOHAN, current, owned=set(), unidentified=Counter())
    assert [line.id for line in s.uncertain] == [1]
    assert sorted(line.id for line in s.pending) == [2, 3, 4]
    assert s.sent == []


def test_an_arrived_batch_beside_a_hand_typed_twin_keeps_that_id_unknown():
    current = {"11": [wc(70, 5100, "750.00"), wc(90, 5100, "750.00"), wc(91, 5500, "1234.50")],
               "12": [wc(92, 5100, "300.00"), wc(93, 5500, "99.90")]}  # fmt: skip
    s = settle(MARIA + JOHAN, current, owned=set(), unidentified=Counter())
    ids = {line.id: cid for line, cid in s.sent}
    assert ids == {1: None, 2: "91", 3: "92", 4: "93"}  # which 750,00 is ours: unknown


def test_batches_are_decided_each_on_its_own():
    first = [L(1, "11", "5100", "750.00", batch=1), L(2, "11", "5500", "1234.50", batch=1)]
    second = [L(3, "12", "5100", "300.00", batch=2), L(4, "12", "5500", "99.90", batch=2)]
    current = {"11": [wc(90, 5100, "750.00"), wc(91, 5500, "1234.50")], "12": []}
    s = settle(first + second, current, owned=set(), unidentified=Counter())
    assert sorted(line.id for line, _ in s.sent) == [1, 2]
    assert s.pending == second


def test_over_rest_the_comment_decides_each_line_exactly():
    lines = [L(1, "g1", "5100", "750.00", comment="Brygga rapport 7 [1:a]"),
             L(2, "g1", "5100", "750.00", comment="Brygga rapport 7 [2:a]")]  # fmt: skip
    current = {"g1": [wc("x", 5100, "750.00", "manuell"),
                      wc("y", 5100, "750.00", "Brygga rapport 7 [2:a]")]}  # fmt: skip
    s = settle(lines, current, owned=set(), unidentified=Counter(), comments_readable=True)
    assert [(line.id, cid) for line, cid in s.sent] == [(2, "y")]
    assert [line.id for line in s.pending] == [1]


def test_ids_are_found_later_only_where_no_component_can_be_someone_elses():
    lines = [L(1, "11", "5100", "750.00"), L(2, "11", "5500", "1234.50")]
    current = {"11": [wc(70, 5100, "750.00"), wc(90, 5100, "750.00"), wc(91, 5500, "1234.50")]}
    assert [(line.id, cid) for line, cid in identify(lines, current, owned=set())] == [(2, "91")]
    assert [(line.id, cid) for line, cid in identify(lines, current, owned={"70"})] == [
        (1, "90"), (2, "91")
    ]  # fmt: skip
