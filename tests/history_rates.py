"""Print how often step detection finds a step of each size at its run, and calls one in a flat series, with the
noise of two pairs of runs of one commit (tests/data): python -m tests.history_rates [SEEDS]."""

import argparse

from fixtures.history.steps import PENALTY, find_steps, robust_sd
from tests.history_runs import SERIES, measured_noise, synthetic

NOISES = {
    "default runs (aa-1, aa-2)": ("aa-1.json", "aa-2.json"),
    "--upload-cell-time=3 (power-1, power-2)": ("power-1.json", "power-2.json"),
}
STEPS = (1.1, 1.2, 1.3, 1.5, 2.0)
BIC = 2.0  # the penalty per step of the Bayesian information criterion, in ln(n)


def indices(noise, seed: int, step: float, floor: float, penalty: float) -> list:
    """Where steps are found in one synthetic series."""
    return [s.index for s in find_steps(synthetic(noise, seed, step), floor=floor, penalty=penalty)]


def main(seeds: int = 1000):
    print(f"series of {SERIES} runs, the step after the {SERIES // 2}th; {seeds} seeded series per row\n")
    print(
        "| noise between runs | sd | penalty | flat: no step | " + " | ".join(f"{s}x at its run" for s in STEPS) + " |"
    )
    print("|---" * (4 + len(STEPS)) + "|")
    for label, files in NOISES.items():
        noise = measured_noise(*files)
        floor = robust_sd(noise)
        for penalty in (BIC, PENALTY):
            flat = sum(not indices(noise, seed, 1.0, floor, penalty) for seed in range(seeds))
            found = [
                sum(indices(noise, seed, step, floor, penalty) == [SERIES // 2] for seed in range(seeds))
                for step in STEPS
            ]
            cells = " | ".join(f"{n / seeds:.1%}" for n in found)
            print(f"| {label} | {floor:.3f} | {penalty:g} ln(n) | {flat / seeds:.1%} | {cells} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.history_rates", description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=int, nargs="?", default=1000, help="synthetic series per step size")
    main(parser.parse_args().seeds)
