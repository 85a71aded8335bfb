"""Which request a worker sends next: weights, payload order, sequence numbers, the seed."""

from __future__ import annotations

from collections import Counter

from driver.load.scenarios import SCENARIO_STRIDE, RequestPicker, WorkerRequest


def requests(scenario: int, rows: int) -> list[WorkerRequest]:
    return [WorkerRequest("POST", f"http://127.0.0.1:9/{scenario}", {}, f"{row}".encode())
            for row in range(rows)]


def test_one_request_is_every_request_numbered_from_one():
    only = requests(0, 1)
    picker = RequestPicker([only], [1.0], "random", seed=1)
    assert [picker.next() for _ in range(3)] == [(1, 0, only[0]), (2, 0, only[0]),
                                                 (3, 0, only[0])]
    assert picker.picked == 3


def test_scenarios_come_in_proportion_to_their_weights():
    picker = RequestPicker([requests(0, 1), requests(1, 1)], [3.0, 1.0], "random", seed=1)
    picks = [picker.next() for _ in range(1000)]  # one whole shuffled sequence
    assert [seq for seq, _, _ in picks] == list(range(1, 1001))
    assert Counter(request_id // SCENARIO_STRIDE for _, request_id, _ in picks) == {0: 750,
                                                                                  1: 250}


def test_payload_rows_in_sequence_wrap_around_per_scenario():
    rows = requests(0, 3)
    picker = RequestPicker([rows], [1.0], "sequence", seed=1)
    picks = [picker.next() for _ in range(7)]
    assert [request_id for _, request_id, _ in picks] == [0, 1, 2, 0, 1, 2, 0]
    assert [spec for _, _, spec in picks] == [rows[i] for i in (0, 1, 2, 0, 1, 2, 0)]


def test_random_rows_follow_the_seed():
    def picks(seed: int) -> list[int]:
        picker = RequestPicker([requests(0, 2), requests(1, 5)], [1.0, 1.0], "random", seed)
        return [request_id for _, request_id, _ in (picker.next() for _ in range(200))]

    assert picks(7) == picks(7) != picks(8)
    assert {request_id % SCENARIO_STRIDE for request_id in picks(7)
            if request_id >= SCENARIO_STRIDE} == set(range(5))


def test_a_request_says_who_sent_it_unless_the_profile_did():
    assert WorkerRequest("GET", "/", {}, None).headers["User-Agent"].startswith("loadwatch/")
    assert WorkerRequest("GET", "/", {"user-agent": "me"}, None).headers == {"user-agent": "me"}
