"""Summarises the A/B runs in this folder: the GOAL lines of ovid-bench-gpu --quick, and the
15,004-token rows of its layer tables. Usage: python3 summarize.py [folder ...]"""
import pathlib
import re
import statistics
import sys

GOALS = ["video block @15004", "video block @30008", "audio block @157", "audio block @314"]


def parse(path):
    text = path.read_text()
    goals = {}
    for g in GOALS:
        m = re.search(r"GOAL " + re.escape(g) + r".*?-> lazy/bf16 ([0-9.]+).*?eager ([0-9.]+).*?"
                      r"per denoising step \(text k/v once per request\): lazy/bf16 ([0-9.]+)", text)
        goals[g] = tuple(float(x) for x in m.groups())
    layers = {}
    for shape, body in re.findall(r"\[(\d+ x \d+)\] time / bf16 time.*?\n.*?\n((?:\s+\d+ .*\n)+)", text):
        for line in body.splitlines():
            f = line.split()
            if f[0] == "15004":
                # q4 lazy eager comfy | q6 ... | q8 ...
                nums = [float(x) for x in f[2:] if x != "|"]
                layers[shape] = {"q4 lazy": nums[0], "q4 eager": nums[1], "q6 lazy": nums[3],
                                 "q6 eager": nums[4], "q8 lazy": nums[6], "q8 eager": nums[7]}
    return goals, layers


def main(folders):
    for folder in folders:
        runs = {}
        for p in sorted(pathlib.Path(folder).glob("*.txt")):
            tag = re.match(r"([a-z]+)(\d+)", p.stem)
            runs.setdefault(tag.group(1), {})[int(tag.group(2))] = parse(p)
        print(f"== {folder}")
        for name, by_run in runs.items():
            print(f"  {name}: runs {sorted(by_run)}")
            for g in GOALS:
                v = [by_run[i][0][g][0] for i in sorted(by_run)]
                s = [by_run[i][0][g][2] for i in sorted(by_run)]
                e = [by_run[i][0][g][1] for i in sorted(by_run)]
                print(f"    {g:20s} 12 layers {' '.join(f'{x:.4f}' for x in v)}  mean {statistics.mean(v):.4f}"
                      f" | per step mean {statistics.mean(s):.4f} | eager mean {statistics.mean(e):.4f}")
            for shape in by_run[min(by_run)][1]:
                keys = by_run[min(by_run)][1][shape]
                means = {k: statistics.mean(by_run[i][1][shape][k] for i in by_run) for k in keys}
                print(f"    {shape:>12s} @15004 mean " + " ".join(f"{k} {v:.3f}" for k, v in means.items()))
        names = sorted(runs)
        for a in names:
            for b in names:
                if a >= b:
                    continue
                common = sorted(set(runs[a]) & set(runs[b]))
                d = [runs[a][i][0][GOALS[0]][0] - runs[b][i][0][GOALS[0]][0] for i in common]
                print(f"  video @15004, {a} - {b} per round: {' '.join(f'{x:+.4f}' for x in d)}"
                      f"  mean {statistics.mean(d):+.4f}")


main(sys.argv[1:] or [str(p) for p in sorted(pathlib.Path(__file__).parent.iterdir()) if p.is_dir()])
