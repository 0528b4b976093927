"""A duet's flag is confirmed on new servers: a lean that two processes of the same code keep for as long as they
live is not a change, and is not flagged once the processes are started again."""

import math
import random

from fixtures.data.integrity import verify_and_delete
from fixtures.processes.chains import Chains
from fixtures.run import duet
from fixtures.run.detectable import detectable_ratio
from fixtures.run.rounds import CONFIRM_FLOORS
from fixtures.run.second_pass import SecondPass, to_confirm
from fixtures.run.verdicts import FASTER, INCONCLUSIVE, SLOWER, lifetimes_agree
from fixtures.uploads.methods import METHODS
from tests.conftest import alive
from tests.test_duet_second_pass import FLOOR, LEVEL, Clock

OTHERS = 60  # unchanged cells judged with the one under test, as in a run


def pairs(ratio, count, spread=0.01, seed=0):
    """Return A's and B's times of ``count`` pairs around B/A ``ratio``."""
    rng = random.Random(seed)
    return [1.0] * count, [ratio * math.exp(rng.gauss(0, spread)) for _ in range(count)]


def judged(*lives, renewable=True):
    """Return a cell whose pairs ran on one lifetime of its servers per (ratio, pairs) given, judged among others."""
    cell = duet.DuetCell("t[cell]", 1 << 20, renewable=renewable)
    for lifetime, (ratio, count) in enumerate(lives):
        a, b = pairs(ratio, count, seed=lifetime)
        cell.a += a
        cell.b += b
        cell.lifetimes += [(lifetime, lifetime)] * count
    others = [duet.DuetCell(f"other {n}", 1 << 20, a=[1.0] * FLOOR, b=[1.0] * FLOOR) for n in range(OTHERS)]
    duet.judge([cell, *others])
    return cell


def test_a_change_seen_on_each_lifetime_of_the_servers_is_flagged():
    cell = judged((1.15, FLOOR), (1.15, FLOOR))
    assert cell.verdict == SLOWER, cell.why
    assert len(cell.by_lifetime) == 2 and all(r > 1.1 for r in cell.by_lifetime)
    assert "on each lifetime" in cell.why and cell.record()["paired_ratio_by_lifetime"] == cell.by_lifetime
    assert judged((0.85, FLOOR), (0.87, FLOOR)).verdict == FASTER


def test_a_lean_of_one_lifetime_that_new_servers_do_not_show_is_not_flagged():
    lean = judged((1.09, 3 * FLOOR), (1.0, FLOOR))  # pursued on its first servers, then started again
    assert lean.verdict == INCONCLUSIVE and "not seen on new ones" in lean.why, lean.why
    assert judged((1.09, 3 * FLOOR), (0.95, FLOOR)).verdict == INCONCLUSIVE  # the other way on the new ones
    # the same pairs where the servers could not be started again (a fixed count, a target): the flag stands
    assert judged((1.09, 3 * FLOOR), (1.0, FLOOR), renewable=False).verdict == SLOWER


def test_a_flag_on_one_lifetime_alone_is_not_one_where_the_servers_could_be_started_again():
    alone = judged((1.15, 2 * FLOOR))
    assert alone.verdict == INCONCLUSIVE and "on one lifetime" in alone.why
    few = judged((1.15, 2 * FLOOR), (1.15, duet.LIFETIME_PAIRS - 1))  # too few pairs on the new ones to count
    assert few.verdict == INCONCLUSIVE and few.by_lifetime == [] and "on one lifetime" in few.why


def test_lifetimes_agree_on_a_change_when_their_average_is_past_the_minimum_effect_and_each_past_half_of_it():
    assert lifetimes_agree([1.08, 1.03], True, 0.05)  # a lean of the first diluted, not undone, by the second
    assert not lifetimes_agree([1.10, 1.0], True, 0.05)  # all of it the first processes'
    assert not lifetimes_agree([1.12, 1.02], True, 0.05)  # the average is past 5%, the second not past 2.5%
    assert lifetimes_agree([0.92, 0.95], False, 0.05) and not lifetimes_agree([0.92, 0.95], True, 0.05)


def test_what_a_cell_could_have_seen_counts_its_confirmation():
    a, b = pairs(1.0, FLOOR, spread=0.08)
    without = detectable_ratio(a, b, LEVEL, FLOOR, 8 * FLOOR)
    confirmed = detectable_ratio(a, b, LEVEL, FLOOR, 8 * FLOOR, confirm=CONFIRM_FLOORS * FLOOR)
    assert without < confirmed < detectable_ratio(a, b, LEVEL, FLOOR, 8 * FLOOR, confirm=FLOOR) < math.inf


class Chain:
    """A chain whose servers a renew starts again: its lifetime counts them."""

    spawn = True

    def __init__(self):
        self.lifetime = 0


class Cell:
    """A duet cell of the second pass, its pairs around a ratio on whatever lifetime its chains are in."""

    def __init__(self, name, ratio, chains, clock):
        self.duet = duet.DuetCell(name, 1 << 20, floor=FLOOR)
        self.chains, self.clock, self.ratio = chains, clock, ratio
        self.renewable = True
        self.pair_seconds = 0.1
        self.random = random.Random(name)
        self.visited = []
        self.visit(FLOOR, lambda paired: False)
        self.visited.clear()

    def visit(self, count, enough):
        self.visited.append((count, tuple(chain.lifetime for chain in self.chains)))
        for _ in range(count):
            self.duet.a.append(1.0)
            self.duet.b.append(self.ratio * math.exp(self.random.gauss(0, 0.01)))
            self.duet.lifetimes.append(tuple(chain.lifetime for chain in self.chains))
            self.clock.now += self.pair_seconds
        return count


def test_the_second_pass_confirms_a_change_on_new_servers_each_chain_started_once_outside_its_time():
    clock = Clock()
    shared_a, shared_b, quiet_a, quiet_b = Chain(), Chain(), Chain(), Chain()
    changed = Cell("changed", 1.2, [shared_a, shared_b], clock)
    also = Cell("also changed", 0.8, [shared_a, shared_b], clock)
    quiet = Cell("unchanged", 1.0, [quiet_a, quiet_b], clock)
    assert to_confirm(changed.duet) and to_confirm(also.duet) and not to_confirm(quiet.duet)
    renewed = []

    def renew(chain):
        renewed.append(chain)
        chain.lifetime += 1

    passing = SecondPass(0.0, LEVEL, clock)  # no time: only the confirmations run
    visits = passing.run([changed, also, quiet], renew=renew)
    assert renewed == [shared_a, shared_b]  # once for both cells of the chains
    confirming = CONFIRM_FLOORS * FLOOR
    assert changed.visited == [(confirming, (1, 1))] and also.visited == [(confirming, (1, 1))] and not quiet.visited
    assert [v.confirm for v in visits] == [True, True] and not to_confirm(changed.duet)
    record = passing.record()
    assert record["confirmed_pairs"] == 2 * confirming and record["pairs"] == 0 and record["chains_renewed"] == 2
    assert "2 cell(s) showing a change run again on new servers" in passing.describe()
    duet.judge([changed.duet, also.duet, quiet.duet])
    assert (changed.duet.verdict, also.duet.verdict, quiet.duet.verdict) == (SLOWER, FASTER, duet.UNCHANGED)


def test_a_renewed_chain_serves_from_new_processes_in_the_same_chain(server_factory, data_files):
    chains = Chains(server_factory)
    chain = chains.get(("werkzeug", "werkzeug"))
    servers, pids = list(chain.servers), [p.pid for s in chain.servers for p in s.processes()]
    chains.renew(chain)
    assert chains.get(("werkzeug", "werkzeug")) is chain and chain.lifetime == 1
    assert all(new is not old for new, old in zip(chain.servers, servers, strict=True)) and len(chain.servers) == 2
    assert alive(pids) == []  # the old processes are gone
    datafile = data_files.get(1 << 20)
    method = METHODS["request.stream-chunked"]
    answer = method.send(method.url(chain.url), datafile.path, datafile.size, 60)
    assert verify_and_delete(answer, chain, datafile) == datafile.size  # through both new hops, intact
