# Stall samples of an ncu source-page CSV split into consumer and decoder code (the decoder code
# follows the setmaxnreg dealloc): python3 sassroles.py FILE.csv
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
hdr, data = rows[1], rows[2:]
i_s = hdr.index("Warp Stall Sampling (All Samples)"); i_e = hdr.index("Instructions Executed")
cut = [i for i, r in enumerate(data) if "SETMAXREG.DEALLOC" in r[1]][0]
cols = [c for c in hdr if c.startswith("stall_") and "Not Issued" not in c]
tot = sum(float(r[i_s] or 0) for r in data)
for name, lo, hi in [("consumer", 0, cut), ("decoder", cut, len(data))]:
    rng = data[lo:hi]
    t = sum(float(r[i_s] or 0) for r in rng)
    agg = {c: sum(float(r[hdr.index(c)] or 0) for r in rng) for c in cols}
    print(name, f"{t / tot * 100:.1f}% of samples", sorted(((round(v / t * 100, 1), c) for c, v in agg.items()), reverse=True)[:6])
    for r in sorted(rng, key=lambda r: -float(r[i_s] or 0))[:8]:
        i = data.index(r)
        print(f"   {float(r[i_s] or 0) / t * 100:5.1f}% ex={r[i_e]:>8} {r[1].strip()[:55]:55s} | prev: {data[i - 1][1].strip()[:60]}")
